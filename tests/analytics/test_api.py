"""The analytics API: values from the rollups, rates as fractions, two brands and two store managers isolated,
CSV export, OpenAPI."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django_tenants.utils import schema_context

from analytics.rollup import rollup_range
from tests.analytics.conftest import PW, D, at, member, nonmember_sale, order, refund
from tests.conftest import BRAND_PASSWORD

ONE = dt.timedelta(days=1)
RANGE = {"from": str(D), "to": str(D + 2 * ONE)}


def seed(w, scale: int = 1):
    with schema_context(w.schema):
        alice = member(joined=at(D - 40 * ONE), openid=f"o-alice-{w.schema}")
        order(store=w.s1, paid=at(D, 10), total=1000 * scale, channel="online", member=alice, guide=w.g1)
        big = order(store=w.s2, paid=at(D, 11), total=5000 * scale, guide=w.g2)
        nonmember_sale(store=w.s1, paid=at(D, 12), kind="phone", identity="h-1", total=300)
        nonmember_sale(store=w.s1, paid=at(D, 13), kind="phone", identity="h-2", total=300)
        member(joined=at(D, 18), phone_hash="h-1", channel="store_counter", join_store=w.s1)
        refund(order=big, decided=at(D + 2 * ONE, 9))
        rollup_range(D - ONE, D + 2 * ONE)


@pytest.fixture
def seeded(world, world_b):
    seed(world)
    seed(world_b, scale=7)
    return world, world_b


def hq(client_for, w):
    return client_for(w.brand).as_staff(f"{w.brand.slug}-hq", BRAND_PASSWORD)


def manager(client_for, w, user):
    return client_for(w.brand).as_staff(user.username, PW)


def test_hq_sees_store_figures_with_refunds_on_their_day_and_join_rate_as_a_fraction(seeded, client_for):
    world, _ = seeded
    response = hq(client_for, world).get("/api/v1/console/analytics/figures", {**RANGE, "by": "store"})
    assert response.status_code == 200, response.content
    rows = {(r["period"], r["key"]): r for r in response.json()["results"]}
    s1, s2 = rows[(str(D), world.s1.pk)], rows[(str(D), world.s2.pk)]
    assert (s1["gmv_online_fen"], s1["gmv_pos_fen"], s1["gmv_fen"], s1["name"]) == (1000, 600, 1600, "A1 One")
    assert s1["nonmember_join_rate"] == {"numerator": 1, "denominator": 2}
    assert (s2["gmv_fen"], s2["refunds_fen"], s2["net_gmv_fen"]) == (5000, 0, 5000)
    refund_day = rows[(str(D + 2 * ONE), world.s2.pk)]
    assert (refund_day["gmv_fen"], refund_day["refunds_fen"], refund_day["net_gmv_fen"]) == (0, 5000, -5000)


def test_month_grain_sums_the_days(seeded, client_for):
    world, _ = seeded
    response = hq(client_for, world).get("/api/v1/console/analytics/figures", {**RANGE, "grain": "month"})
    (row,) = response.json()["results"]
    assert row["period"] == "2026-03-01"
    assert (row["gmv_fen"], row["refunds_fen"], row["net_gmv_fen"]) == (6600, 5000, 1600)
    assert row["nonmember_join_rate"] == {"numerator": 1, "denominator": 2}


def test_brand_endpoint_has_snapshots_points_and_rates(seeded, client_for):
    world, _ = seeded
    response = hq(client_for, world).get("/api/v1/console/analytics/brand", {**RANGE, "grain": "week"})
    assert response.status_code == 200, response.content
    (row,) = response.json()["results"]  # 2026-03-10..12 is one week (from Monday the 9th)
    assert row["period"] == "2026-03-09" and row["as_of"] == str(D + 2 * ONE)
    assert (row["members_total"], row["new_members"], row["new_store_counter"]) == (2, 1, 1)
    assert row["active_30d_rate"] == {"numerator": 1, "denominator": 2}
    assert (row["gmv_fen"], row["refunds_fen"]) == (6600, 5000)


def test_two_store_managers_see_only_their_franchisees_stores_and_guides(seeded, client_for):
    world, _ = seeded
    for user, store, guide, gmv in ((world.m1, world.s1, world.g1, 1600), (world.m2, world.s2, world.g2, 5000)):
        client = manager(client_for, world, user)
        by_store = client.get("/api/v1/console/analytics/figures", {**RANGE, "by": "store"}).json()["results"]
        assert {r["key"] for r in by_store} == {store.pk}
        by_guide = client.get("/api/v1/console/analytics/figures", {**RANGE, "by": "guide"}).json()["results"]
        assert {r["key"] for r in by_guide} == {guide.pk}
        total = client.get("/api/v1/console/analytics/figures", {**RANGE, "grain": "month"}).json()["results"]
        assert total[0]["gmv_fen"] == gmv
        by_franchisee = client.get("/api/v1/console/analytics/figures", {**RANGE, "by": "franchisee"}).json()["results"]
        assert {r["key"] for r in by_franchisee} == {store.franchisee_id}
        assert client.get("/api/v1/console/analytics/brand", RANGE).status_code == 403
        assert client.get("/api/v1/console/analytics/market", RANGE).status_code == 403


def test_two_brands_are_isolated(seeded, client_for):
    world, world_b = seeded
    a = hq(client_for, world).get("/api/v1/console/analytics/figures", {**RANGE, "grain": "month"}).json()
    b = hq(client_for, world_b).get("/api/v1/console/analytics/figures", {**RANGE, "grain": "month"}).json()
    assert (a["results"][0]["gmv_fen"], b["results"][0]["gmv_fen"]) == (6600, 7 * 6000 + 600)
    # brand A's HQ login does not exist on brand B's host
    crossed = client_for(world_b.brand).as_staff(f"{world.brand.slug}-hq", BRAND_PASSWORD)
    assert crossed.get("/api/v1/console/analytics/figures", RANGE).status_code in (401, 403)


def test_csv_export_has_a_column_per_figure_and_two_per_rate(seeded, client_for):
    world, _ = seeded
    response = manager(client_for, world, world.m1).get(
        "/api/v1/console/analytics/figures.csv", {**RANGE, "by": "store"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["period"], r["key"], r["gmv_fen"]) for r in rows] == [(str(D), str(world.s1.pk), "1600")]
    assert (rows[0]["nonmember_join_rate_numerator"], rows[0]["nonmember_join_rate_denominator"]) == ("1", "2")


def test_historical_online_rate_endpoint(world, client_for):
    with schema_context(world.schema):
        member(joined=at(D), channel="import", store=world.s1, card_activated_at=at(D, 15))
        member(joined=at(D), channel="import", store=world.s1)
        member(joined=at(D), channel="import", store=world.s2)
        rollup_range(D, D)
    response = manager(client_for, world, world.m1).get(
        "/api/v1/console/analytics/historical-online", {"as_of": str(D)}
    )
    assert response.json()["results"] == [
        {
            "key": world.s1.pk,
            "name": "A1 One",
            "as_of": str(D),
            "cumulative": {"numerator": 1, "denominator": 2},
            "month": {"numerator": 1, "denominator": 2},
        }
    ]
    brand = (
        hq(client_for, world)
        .get("/api/v1/console/analytics/historical-online", {"as_of": str(D), "by": "brand"})
        .json()["results"]
    )
    assert brand[0]["cumulative"] == {"numerator": 1, "denominator": 3}


def test_bad_ranges_are_400_in_the_one_error_shape(world, client_for):
    client = hq(client_for, world)
    cases = [
        ({"from": "2026-03-10"}, "to"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
        ({"from": "2026-01-01", "to": "2026-12-31", "by": "store"}, "grain"),
        ({**RANGE, "by": "planet"}, "by"),
    ]
    for params, field in cases:
        response = client.get("/api/v1/console/analytics/figures", params)
        assert response.status_code == 400, (params, response.content)
        assert field in response.json()["error"]["fields"], (params, response.json())


def test_figures_take_a_fixed_number_of_queries(seeded, client_for, django_assert_max_num_queries):
    world, _ = seeded
    client = hq(client_for, world)
    with django_assert_max_num_queries(12):
        assert client.get("/api/v1/console/analytics/figures", {**RANGE, "by": "store"}).status_code == 200


def test_market_and_live_endpoints_answer_for_hq(seeded, client_for):
    world, _ = seeded
    client = hq(client_for, world)
    market = client.get("/api/v1/console/analytics/market", RANGE).json()
    assert market["as_accepting_brand"]["exchanges"] == 0 and "roi" in market["as_issuer"]
    assert client.get("/api/v1/console/analytics/live", RANGE).json()["available"] in (True, False)


def test_openapi_documents_the_analytics_endpoints(client_for, world):
    response = client_for(world.brand).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/v1/console/analytics/figures",
        "/api/v1/console/analytics/brand",
        "/api/v1/console/analytics/figures.csv",
    ):
        assert path in text
    assert "nonmember_join_rate" in text


def test_range_grain_gives_one_row_per_store_over_the_whole_range(seeded, client_for):
    world, _ = seeded
    response = hq(client_for, world).get(
        "/api/v1/console/analytics/figures", {"from": "2026-02-15", "to": "2026-04-10", "grain": "range", "by": "store"}
    )
    rows = {r["key"]: (r["period"], r["gmv_fen"], r["refunds_fen"]) for r in response.json()["results"]}
    assert rows == {world.s1.pk: ("2026-02-15", 1600, 0), world.s2.pk: ("2026-02-15", 5000, 5000)}

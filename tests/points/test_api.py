"""Points API: the member's own points, the HQ console; two brands, two roles, one error shape."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tenants.utils import schema_context

from members.models import Franchisee, Member, StaffProfile
from members.mp_auth import member_token_issue
from points.models import Campaign, PointsEntry
from points.services import points_adjust, points_earn, points_redeem

PASSWORD = "hq-password-1"
DAY = timedelta(days=1)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def alpha_member(brand_a):
    with schema_context(brand_a.schema_name):
        member = Member.objects.create(openid="o-api-1")
        now = timezone.now()
        points_earn(
            member=member,
            points=70,
            idempotency_key="api-e1",
            reason="order",
            reference="A1",
            expires_at=now + 10 * DAY,
        )
        points_earn(
            member=member,
            points=30,
            idempotency_key="api-e2",
            reason="order",
            reference="A2",
            expires_at=now + 40 * DAY,
        )
        points_redeem(member=member, points=20, idempotency_key="api-r1", reason="coupon")
    return member


@pytest.fixture
def member_client(brand_a, client_for, alpha_member):
    token = member_token_issue(schema=brand_a.schema_name, appid="wxalpha000000000001", openid="o-api-1")
    return client_for(brand_a).as_member(token)


@pytest.fixture
def hq_client(brand_a, client_for):
    return client_for(brand_a).as_staff("alpha-hq", PASSWORD)


@pytest.fixture
def store_manager_client(brand_a, client_for):
    with schema_context(brand_a.schema_name):
        user = get_user_model().objects.create_user(username="alpha-store-1", password=PASSWORD)
        StaffProfile.objects.create(user=user, franchisee=Franchisee.objects.create(name="Franchisee 1"))
    return client_for(brand_a).as_staff("alpha-store-1", PASSWORD)


# --- member ------------------------------------------------------------------------------------------------


def test_member_sees_balance_and_what_expires_within_30_days(member_client):
    response = member_client.get("/api/v1/mp/points")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["balance"] == 80
    assert body["expiring_points"] == 50  # 70 - 20 redeemed from the lot expiring in 10 days; not the 40-day lot
    assert [lot["points"] for lot in body["expiring_lots"]] == [50]
    assert body["expiring_lots"][0]["expires_at"].endswith("+08:00")


def test_member_entries_are_cursor_pages_newest_first(member_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):  # host -> brand, search_path, member, page
        first = member_client.get("/api/v1/mp/points/entries?page_size=2")

    assert first.status_code == 200, first.content
    page = first.json()
    assert [e["kind"] for e in page["results"]] == ["redeem", "earn"]
    assert [e["amount"] for e in page["results"]] == [-20, 30]
    assert "idempotency_key" not in page["results"][0]
    second = member_client.get(page["next"]).json()
    assert [e["amount"] for e in second["results"]] == [70]
    assert second["next"] is None


def test_member_sees_only_their_own_entries(brand_a, member_client, client_for):
    with schema_context(brand_a.schema_name):
        other = Member.objects.create(openid="o-api-2")
        points_earn(member=other, points=999, idempotency_key="api-other", reason="order")
    token = member_token_issue(schema=brand_a.schema_name, appid="wxalpha000000000001", openid="o-api-2")

    mine = member_client.get("/api/v1/mp/points/entries").json()["results"]
    theirs = client_for(brand_a).as_member(token).get("/api/v1/mp/points").json()

    assert 999 not in [e["amount"] for e in mine]
    assert theirs["balance"] == 999


def test_brand_a_member_token_is_refused_on_brand_b(brand_a, brand_b, alpha_member, client_for):
    token = member_token_issue(schema=brand_a.schema_name, appid="wxalpha000000000001", openid="o-api-1")
    with schema_context(brand_b.schema_name):
        Member.objects.create(openid="o-api-1")  # same openid in B must not help

    for path in ("/api/v1/mp/points", "/api/v1/mp/points/entries"):
        assert_error(client_for(brand_b).as_member(token).get(path), 401, "not_authenticated")


def test_points_need_a_member_session(brand_a, client_for):
    assert_error(client_for(brand_a).get("/api/v1/mp/points"), 401, "not_authenticated")
    unregistered = member_token_issue(schema=brand_a.schema_name, appid="wxalpha000000000001", openid="o-nobody")
    assert_error(client_for(brand_a).as_member(unregistered).get("/api/v1/mp/points"), 404, "not_a_member")


def test_staff_cannot_use_member_endpoints(hq_client):
    assert_error(hq_client.get("/api/v1/mp/points"), 401)


# --- HQ console --------------------------------------------------------------------------------------------


def test_hq_reads_a_members_ledger_with_audit_fields(hq_client, alpha_member, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = hq_client.get(f"/api/v1/staff/points/members/{alpha_member.pk}/entries")

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [e["idempotency_key"] for e in results] == ["api-r1", "api-e2", "api-e1"]
    summary = hq_client.get(f"/api/v1/staff/points/members/{alpha_member.pk}").json()
    assert summary["balance"] == 80


def test_brand_a_staff_cannot_read_brand_b_ledgers(brand_a, brand_b, client_for):
    with schema_context(brand_b.schema_name):
        b_member = Member.objects.create(openid="o-b-1")
        points_earn(member=b_member, points=5, idempotency_key="b-e1", reason="order")

    on_b_host = client_for(brand_b).as_staff("alpha-hq", PASSWORD)
    response = on_b_host.get(f"/api/v1/staff/points/members/{b_member.pk}/entries")
    assert response.status_code in (401, 403)  # 403: DRF's answer when session auth comes first
    assert_error(response, response.status_code, "not_authenticated")

    on_a_host = client_for(brand_a).as_staff("alpha-hq", PASSWORD)
    response = on_a_host.get(f"/api/v1/staff/points/members/{b_member.pk}/entries")
    if response.status_code == 200:  # an alpha member may have the same id: still never beta's entries
        assert "b-e1" not in [e["idempotency_key"] for e in response.json()["results"]]
    else:
        assert_error(response, 404, "member_not_found")


def test_store_managers_read_only_their_franchisees_members_and_change_nothing(
    brand_a, store_manager_client, alpha_member
):
    from members.models import Store

    with schema_context(brand_a.schema_name):
        franchisee = StaffProfile.objects.get(user__username="alpha-store-1").franchisee
        own_store = Store.objects.create(code="PTS-F1", name="F1", kind="franchise", franchisee=franchisee)
        own_member = Member.objects.create(openid="o-own-store", store=own_store)
        points_earn(member=own_member, points=30, idempotency_key="own-e1", reason="purchase")

    own = store_manager_client.get(f"/api/v1/staff/points/members/{own_member.pk}/entries")
    assert own.status_code == 200, own.content
    assert [e["idempotency_key"] for e in own.json()["results"]] == ["own-e1"]
    # a member outside the manager's franchisee does not exist for them
    assert_error(
        store_manager_client.get(f"/api/v1/staff/points/members/{alpha_member.pk}/entries"), 404, "member_not_found"
    )
    assert_error(store_manager_client.get(f"/api/v1/staff/points/members/{alpha_member.pk}"), 404, "member_not_found")
    # changing a ledger and exporting the brand's entries stay with HQ
    assert_error(
        store_manager_client.get("/api/v1/staff/points/entries.csv?start=2026-01-01&end=2026-01-31"),
        403,
        "permission_denied",
    )
    response = store_manager_client.post(
        f"/api/v1/staff/points/members/{own_member.pk}/adjustments",
        {"points": 5, "reason": "x", "idempotency_key": "adj-store-1"},
        format="json",
    )
    assert_error(response, 403, "permission_denied")


def test_hq_adjusts_with_reason_and_a_retry_changes_nothing(brand_a, hq_client, alpha_member):
    url = f"/api/v1/staff/points/members/{alpha_member.pk}/adjustments"
    body = {"points": -30, "reason": "双倍积分误发", "idempotency_key": "adj-00000001"}

    first = hq_client.post(url, body, format="json")
    again = hq_client.post(url, body, format="json")

    assert first.status_code == 201, first.content
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    entry = first.json()
    assert (entry["kind"], entry["amount"], entry["actor"], entry["reason"]) == (
        "adjust",
        -30,
        "alpha-hq",
        "双倍积分误发",
    )
    with schema_context(brand_a.schema_name):
        assert PointsEntry.objects.filter(member=alpha_member, kind="adjust").count() == 1
        assert alpha_member.points_account.balance == 50


def test_adjust_same_key_other_points_is_409(hq_client, alpha_member):
    url = f"/api/v1/staff/points/members/{alpha_member.pk}/adjustments"
    hq_client.post(url, {"points": 5, "reason": "goodwill", "idempotency_key": "adj-00000002"}, format="json")

    response = hq_client.post(
        url, {"points": 6, "reason": "goodwill", "idempotency_key": "adj-00000002"}, format="json"
    )

    assert_error(response, 409, "idempotency_key_reused")


def test_adjust_below_zero_is_409_and_changes_nothing(hq_client, alpha_member):
    url = f"/api/v1/staff/points/members/{alpha_member.pk}/adjustments"

    response = hq_client.post(url, {"points": -81, "reason": "x", "idempotency_key": "adj-00000003"}, format="json")

    assert_error(response, 409, "insufficient_points")
    assert hq_client.get(f"/api/v1/staff/points/members/{alpha_member.pk}").json()["balance"] == 80


@pytest.mark.parametrize(
    "body, field",
    [
        ({"points": "many", "reason": "x", "idempotency_key": "adj-00000004"}, "points"),
        ({"points": 5, "idempotency_key": "adj-00000004"}, "reason"),
        ({"points": 5, "reason": "x", "idempotency_key": "bad key!"}, "idempotency_key"),
        ({"points": 5, "reason": "x"}, "idempotency_key"),
    ],
)
def test_adjust_bad_input_is_400_in_the_error_shape(hq_client, alpha_member, body, field):
    response = hq_client.post(f"/api/v1/staff/points/members/{alpha_member.pk}/adjustments", body, format="json")
    error = assert_error(response, 400, "validation_error")
    assert field in error["fields"]


def test_adjust_zero_points_is_400(hq_client, alpha_member):
    response = hq_client.post(
        f"/api/v1/staff/points/members/{alpha_member.pk}/adjustments",
        {"points": 0, "reason": "x", "idempotency_key": "adj-00000005"},
        format="json",
    )
    assert_error(response, 400, "invalid_points")


def test_adjust_unknown_member_is_404(hq_client):
    response = hq_client.post(
        "/api/v1/staff/points/members/987654/adjustments",
        {"points": 5, "reason": "x", "idempotency_key": "adj-00000006"},
        format="json",
    )
    assert_error(response, 404, "member_not_found")


def test_csv_export_of_a_period(brand_a, hq_client, alpha_member):
    with schema_context(brand_a.schema_name):
        actor = get_user_model().objects.get(username="alpha-hq")
        points_adjust(
            member=alpha_member, points=1, idempotency_key="adj-formula", actor=actor, reason='=HYPERLINK("http://x")'
        )
    today = timezone.localdate()

    response = hq_client.get(f"/api/v1/staff/points/entries.csv?start={today - DAY}&end={today}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:5] == ["id", "created_at", "member_id", "kind", "amount"]
    keys = [row[-1] for row in rows[1:]]
    assert {"api-e1", "api-e2", "api-r1", "adj-formula"} <= set(keys)
    formula_row = next(row for row in rows[1:] if row[-1] == "adj-formula")
    assert formula_row[8].startswith("'=")  # never a live formula in a spreadsheet
    assert formula_row[9] == "alpha-hq"

    earlier = hq_client.get("/api/v1/staff/points/entries.csv?start=2020-01-01&end=2020-01-31")
    body = b"".join(earlier.streaming_content).decode("utf-8-sig")
    assert body.strip().count("\n") == 0  # the header only


@pytest.mark.parametrize(
    "query, code",
    [
        ("start=2026-02-01&end=2026-01-01", "invalid_period"),
        ("start=2024-01-01&end=2026-01-01", "period_too_long"),
        ("start=yesterday&end=2026-01-01", "validation_error"),
        ("", "validation_error"),
    ],
)
def test_csv_export_bad_period_is_400(hq_client, query, code):
    assert_error(hq_client.get(f"/api/v1/staff/points/entries.csv?{query}"), 400, code)


def test_preview_shows_an_inactive_campaign_before_it_is_switched_on(brand_a, hq_client):
    with schema_context(brand_a.schema_name):
        campaign = Campaign.objects.create(
            name="Double 11",
            multiplier_pct=200,
            starts_on="2026-11-11",
            ends_on="2026-11-11",
            store_codes=["SH01"],
            is_active=False,
        )
    order = {
        "paid_fen": 12_345,
        "paid_at": "2026-11-11T20:00:00+08:00",
        "store_code": "SH01",
        "campaign_id": campaign.pk,
    }

    response = hq_client.post("/api/v1/staff/points/preview", order, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["current"]["points"] == 123 and body["current"]["campaign_id"] is None
    assert body["proposed"]["points"] == 246 and body["proposed"]["campaign_id"] == campaign.pk
    with schema_context(brand_a.schema_name):
        assert Campaign.objects.get(pk=campaign.pk).is_active is False


def test_preview_bad_input_is_400(hq_client):
    response = hq_client.post("/api/v1/staff/points/preview", {"paid_fen": -1, "paid_at": "x"}, format="json")
    error = assert_error(response, 400, "validation_error")
    assert {"paid_fen", "paid_at"} <= set(error["fields"])
    response = hq_client.post(
        "/api/v1/staff/points/preview",
        {"paid_fen": 100, "paid_at": "2026-01-01T00:00:00Z", "policy_changes": {"expiry_months": 1}},
        format="json",
    )
    assert_error(response, 400, "invalid_policy_change")


def test_registration_grants_the_sign_up_bonus_once(brand_a, client_for, in_schema):
    from points.models import PointsPolicy
    from points.selectors import balance_of

    with in_schema(brand_a):
        policy = PointsPolicy.objects.filter(pk=1).first() or PointsPolicy(pk=1)
        policy.signup_bonus_points = 88
        policy.save()
    token = member_token_issue(schema=brand_a.schema_name, appid="wxalpha000000000001", openid="o-signup-1")
    client = client_for(brand_a).as_member(token)
    body = {"phone": "13800138088", "name": "新会员"}
    first = client.post("/api/v1/mp/members", body, format="json")
    again = client.post("/api/v1/mp/members", body, format="json")
    assert first.status_code in (200, 201) and again.status_code in (200, 201), first.content
    with in_schema(brand_a):
        member = Member.objects.get(openid="o-signup-1")
        assert balance_of(member=member) == 88
        assert PointsEntry.objects.filter(member=member, idempotency_key=f"signup:{member.pk}").count() == 1

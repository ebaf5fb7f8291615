"""Console pages through Django's test client (no browser): each page reaches only the caller's scope and writes
through the services. Two store managers of different franchisees, two brands."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context

from members.models import Guide, Member, Tag
from members.selectors import phone_hash
from miniprograms.models import Coupon, PosApiKey, Shop, ShopSku
from miniprograms.services.pos import pos_api_key_check
from tests.conftest import BRAND_PASSWORD
from tests.helpers import BrandClient
from tests.miniprograms.conftest import PW


def logged_in(brand, username: str, password: str = PW) -> BrandClient:
    client = BrandClient(brand)
    response = client.post("/console/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content[:500]
    return client


def hq(world):
    return logged_in(world.brand, f"{world.brand.slug}-hq", BRAND_PASSWORD)


def test_manager_closes_their_shop_and_sets_price_and_stock(world):
    m1 = logged_in(world.brand, "m1")
    response = m1.post(f"/console/shops/{world.shop1.pk}/open", {"open": "0"})
    assert response.status_code == 302
    response = m1.post(
        f"/console/shops/{world.shop1.pk}/", {"sku_code": world.sku.code, "price": "8.50", "stock": "5", "on_sale": "1"}
    )
    assert response.status_code == 302
    with schema_context(world.schema):
        assert Shop.objects.get(pk=world.shop1.pk).is_open is False
        entry = ShopSku.objects.get(shop=world.shop1, sku=world.sku)
        assert (entry.price_fen, entry.stock, entry.on_sale) == (850, 5, True)
    page = m1.get(f"/console/shops/{world.shop1.pk}/").content.decode()
    assert "¥10.00" in page  # the list price, from fen
    # the other franchisee's shop: 404, nothing changes
    assert m1.post(f"/console/shops/{world.shop2.pk}/open", {"open": "0"}).status_code == 404
    assert m1.get(f"/console/shops/{world.shop2.pk}/").status_code == 404
    with schema_context(world.schema):
        assert Shop.objects.get(pk=world.shop2.pk).is_open is True
    assert world.shop2.name not in m1.get("/console/shops/").content.decode()


@pytest.mark.parametrize("price", ["8.505", "abc", "-1"])
def test_a_price_that_is_not_yuan_is_refused_with_a_message(world, price):
    m1 = logged_in(world.brand, "m1")
    response = m1.post(
        f"/console/shops/{world.shop1.pk}/",
        {"sku_code": world.sku.code, "price": price},
        HTTP_REFERER=f"http://{world.brand.slug}.localhost/console/shops/{world.shop1.pk}/",
    )
    assert response.status_code == 302
    page = m1.get(response["Location"]).content.decode()
    assert "价格以元为单位，最多两位小数。" in page  # noqa: RUF001
    with schema_context(world.schema):
        assert ShopSku.objects.get(shop=world.shop1, sku=world.sku).price_fen == 900


def test_member_search_is_exact_on_phone_and_masks_it(world):
    with schema_context(world.schema):
        Member.objects.filter(pk=world.alice.pk).update(
            phone="13800138000", phone_hash=phone_hash("13800138000"), store=world.s1
        )
        Member.objects.filter(pk=world.bob.pk).update(store=world.s2)
    client = hq(world)
    page = client.get("/console/members/", {"phone": "13800138000"}).content.decode()
    table = page[page.index('data-testid="member-list"') : page.index("</table>")]
    assert "Alice" in table and "Bob" not in table
    assert "*******8000" in table and "13800138000" not in table
    assert "Alice" not in client.get("/console/members/", {"phone": "1380013800"}).content.decode()
    # a manager of F2 does not find F1's member by phone either
    m2 = logged_in(world.brand, "m2")
    assert "Alice" not in m2.get("/console/members/", {"phone": "13800138000"}).content.decode()


def test_manager_moves_the_exclusive_guide_and_tags_within_scope(world):
    with schema_context(world.schema):
        Member.objects.filter(pk=world.alice.pk).update(store=world.s1)
        other_guide = Guide.objects.create(name="G2", employee_no="E-other", store=world.s2)
        tag = Tag.objects.create(name="VIP")
    m1 = logged_in(world.brand, "m1")
    assert m1.post(f"/console/members/{world.alice.pk}/guide", {"guide_id": world.guide.pk}).status_code == 302
    assert m1.post(f"/console/members/{world.alice.pk}/tags", {"tag_id": tag.pk}).status_code == 302
    # a guide of the other franchisee is a 404, and the member keeps their guide
    assert m1.post(f"/console/members/{world.alice.pk}/guide", {"guide_id": other_guide.pk}).status_code == 404
    with schema_context(world.schema):
        alice = Member.objects.get(pk=world.alice.pk)
        assert alice.guide_id == world.guide.pk
        assert list(alice.tags.values_list("name", flat=True)) == ["VIP"]
    page = m1.get(f"/console/members/{world.alice.pk}/").content.decode()
    assert "VIP" in page and world.guide.name in page


def test_coupons_are_hq_only_and_a_grant_form_sent_twice_grants_once(world):
    with schema_context(world.schema):
        tag = Tag.objects.create(name="Tea lovers")
        Member.objects.get(pk=world.alice.pk).tags.add(tag)
        Member.objects.get(pk=world.bob.pk).tags.add(tag)
    client = hq(world)
    response = client.post(
        "/console/coupons/",
        {"name": "¥5 off", "kind": "amount_off", "amount_off": "5", "total_stock": "100", "threshold": "20.00"},
    )
    assert response.status_code == 302
    template_id = int(re.search(r"/console/coupons/(\d+)/", response["Location"]).group(1))
    page = client.get(f"/console/coupons/{template_id}/").content.decode()
    key = re.search(r'name="grant_key" value="([0-9a-f]+)"', page).group(1)
    for _ in range(2):
        assert client.post(f"/console/coupons/{template_id}/", {"grant_key": key, "tag_id": tag.pk}).status_code == 302
    with schema_context(world.schema):
        coupons = Coupon.objects.filter(template_id=template_id)
        assert sorted(coupons.values_list("member_id", flat=True)) == sorted([world.alice.pk, world.bob.pk])
        assert coupons.first().template.amount_off_fen == 500
        assert coupons.first().template.threshold_fen == 2000
    assert "¥5.00" in client.get("/console/coupons/").content.decode()
    # store managers get the 403 page
    m1 = logged_in(world.brand, "m1")
    assert m1.get("/console/coupons/").status_code == 403
    assert m1.post(f"/console/coupons/{template_id}/", {"grant_key": "x", "tag_id": tag.pk}).status_code == 403


def test_guides_move_within_scope_get_a_login_and_a_share_code(world, fake_wechat):
    m1 = logged_in(world.brand, "m1")
    # moving a guide to the other franchisee's store: 404, the guide stays
    assert m1.post(f"/console/guides/{world.guide.pk}/move", {"store_id": world.s2.pk}).status_code == 404
    response = m1.post(
        f"/console/guides/{world.guide.pk}/login",
        {"username": "g-one", "password": "short"},
        HTTP_REFERER=f"http://{world.brand.slug}.localhost/console/guides/{world.guide.pk}/",
    )
    assert response.status_code == 302
    with schema_context(world.schema):
        assert Guide.objects.get(pk=world.guide.pk).user is None  # the password validators said no
    assert (
        m1.post(
            f"/console/guides/{world.guide.pk}/login", {"username": "g-one", "password": "guide-password-9"}
        ).status_code
        == 302
    )
    page = m1.post(f"/console/guides/{world.guide.pk}/share", {"shop_id": world.shop1.pk}).content.decode()
    assert 'data-testid="share-qr"' in page and "data:image/jpeg;base64," in page
    assert m1.post(f"/console/guides/{world.guide.pk}/share", {"shop_id": world.shop2.pk}).status_code == 404
    # the guide's login opens their own page only
    guide = logged_in(world.brand, "g-one", "guide-password-9")
    assert guide.get("/console/me/").status_code == 200
    assert guide.get("/console/guides/").status_code == 403
    with schema_context(world.schema):
        assert Guide.objects.get(pk=world.guide.pk).store_id == world.s1.pk


def test_pos_key_is_shown_once_and_only_for_own_stores(world):
    m1 = logged_in(world.brand, "m1")
    response = m1.post("/console/pos-keys/", {"store_id": world.s1.pk})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    raw = re.search(r'data-testid="pos-key">([^<]+)<', response.content.decode()).group(1)
    with schema_context(world.schema):
        assert pos_api_key_check(raw) == world.s1
    listing = m1.get("/console/pos-keys/").content.decode()
    assert raw.split(".")[0] in listing and raw not in listing
    assert m1.post("/console/pos-keys/", {"store_id": world.s2.pk}).status_code == 404
    assert raw.split(".")[0] not in logged_in(world.brand, "m2").get("/console/pos-keys/").content.decode()


def test_a_manager_revokes_their_stores_key_and_not_another_franchisees(world):
    m1, m2 = logged_in(world.brand, "m1"), logged_in(world.brand, "m2")
    raw = re.search(
        r'data-testid="pos-key">([^<]+)<', m1.post("/console/pos-keys/", {"store_id": world.s1.pk}).content.decode()
    ).group(1)
    with schema_context(world.schema):
        key_id = PosApiKey.objects.get(prefix=raw.split(".")[0]).pk

    refused = m2.post(f"/console/pos-keys/{key_id}/revoke")
    with schema_context(world.schema):
        still_works = pos_api_key_check(raw)
    revoked = m1.post(f"/console/pos-keys/{key_id}/revoke")
    with schema_context(world.schema):
        after = pos_api_key_check(raw)
    listing = m1.get("/console/pos-keys/").content.decode()

    assert refused.status_code == 404 and still_works == world.s1
    assert revoked.status_code == 302 and after is None
    assert "已吊销" in listing and f'data-testid="revoke-{raw.split(".")[0]}"' not in listing


def test_a_session_of_one_brand_is_nobody_on_another(world, world_b):
    client = hq(world)
    assert client.get("/console/").status_code == 200
    client.defaults["HTTP_HOST"] = f"{world_b.brand.slug}.localhost"
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")


def test_console_is_not_on_the_platform_host(db):
    assert BrandClient(None).get("/console/").status_code == 404


def test_api_errors_are_chinese_by_default_and_english_on_request(world):
    client = BrandClient(world.brand)
    body = client.get("/api/v1/no-such-thing").json()
    assert body["error"] == {"code": "not_found", "message": "未找到。", "fields": {}}
    body = client.get("/api/v1/no-such-thing", HTTP_ACCEPT_LANGUAGE="en").json()
    assert body["error"]["message"] == "Not found."


def test_rights_market_page_shows_hq_its_own_side_only(world, world_b):
    from tests.rights_market.factories import listing_make, offer_make

    own = offer_make(world.brand, title="云裳 ¥10 券", face_value_fen=1000)
    theirs = offer_make(world_b.brand, title="Beta tea voucher")
    listing_make(world.brand, theirs, points_price=300)
    offer_make(world_b.brand, title="Beta secret offer")
    page = hq(world).get("/console/market/").content.decode()
    offers = page[page.index('data-testid="market-offers"') : page.index('data-testid="market-listings"')]
    assert own.title in offers and "¥10.00" in offers and "Beta" not in offers
    listings = page[page.index('data-testid="market-listings"') : page.index('data-testid="market-statements"')]
    assert "Beta tea voucher" in listings and "300" in listings and "Beta secret offer" not in page
    assert logged_in(world.brand, "m1").get("/console/market/").status_code == 403


def test_hq_admin_speaks_chinese_by_default(world):
    client = hq(world)
    page = client.get("/admin/").content.decode()
    assert f"{world.brand.name} · 总部" in page and "站点管理" in page
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"{world.brand.name} · HQ" in page and "Site administration" in page


def test_fulfilment_steps_follow_the_service_and_stay_in_scope(world, fake_wechat):
    from miniprograms.models import Order
    from tests.console.conftest import paid_order_with_refund_request

    order, refund, _ = paid_order_with_refund_request(world, fake_wechat)
    m1 = logged_in(world.brand, "m1")
    m1.post(f"/console/refunds/{refund.pk}/reject", {"note": "已取货"})
    with schema_context(world.schema):
        order.refresh_from_db()
        assert order.status == Order.Status.PAID
    page = m1.get(f"/console/orders/{order.pk}/").content.decode()
    steps = re.findall(r'name="status" value="([a-z_]+)"', page)
    assert steps == ["ready_for_pickup"] and "待自提" in page
    assert m1.post(f"/console/orders/{order.pk}/fulfilment", {"status": "ready_for_pickup"}).status_code == 302
    # a step the service does not allow from here is refused with its message; the other manager gets 404
    m1.post(f"/console/orders/{order.pk}/fulfilment", {"status": "delivered"})
    assert (
        logged_in(world.brand, "m2").post(f"/console/orders/{order.pk}/fulfilment", {"status": "picked_up"}).status_code
        == 404
    )
    with schema_context(world.schema):
        order.refresh_from_db()
        assert order.fulfilment_status == Order.FulfilmentStatus.READY_FOR_PICKUP
        assert list(order.events.values_list("status", flat=True))[-2:] == ["refund_rejected", "ready_for_pickup"]


def test_an_unknown_console_address_is_the_404_page_and_the_api_keeps_json(world):
    client = hq(world)
    response = client.get("/console/no-such-page/")
    assert response.status_code == 404 and 'data-testid="not-found"' in response.content.decode()
    assert client.get("/api/v1/no-such-thing").json()["error"]["code"] == "not_found"


def test_live_rooms_are_scoped_and_show_their_metrics(world):
    import datetime as dt

    from django.utils import timezone

    from livestream.models import LiveRoom

    now = timezone.now()
    with schema_context(world.schema):
        mine = LiveRoom.objects.create(
            name="S1 新品直播",
            store=world.s1,
            start_at=now,
            end_at=now + dt.timedelta(hours=2),
            status=LiveRoom.Status.LIVE,
        )
        theirs = LiveRoom.objects.create(
            name="S2 直播", store=world.s2, start_at=now, end_at=now + dt.timedelta(hours=2)
        )
    m1 = logged_in(world.brand, "m1")
    listing = m1.get("/console/live/").content.decode()
    assert mine.name in listing and theirs.name not in listing and "进行中" in listing
    page = m1.get(f"/console/live/{mine.pk}/").content.decode()
    assert 'data-testid="live-viewers">0<' in page
    assert m1.get(f"/console/live/{theirs.pk}/").status_code == 404

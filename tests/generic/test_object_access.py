"""Object-level access, every endpoint with an id (OWASP API1): the walker lists every such route of both URL
confs; each must have a case here (or be named in NOT_YET_COVERED, with the reason) or this test fails. A case
calls the route for brand A objects owned by franchisee F1 and member Alice, as:

- the owner (Alice for member routes, F1's store manager for staff routes): the owner's answer (< 400);
- another member (Bob), another franchisee's manager (M2), a guide's login, brand B's HQ on brand A's host, and
  anonymous: 401/403/404/405 in the error shape, and never any of brand A's marked data;
- brand B's HQ on brand B's host with the same ids: never any of brand A's marked data (the ids name B's own
  rows there, which B may see).
"""

from __future__ import annotations

import re

import pytest
from django.urls import get_resolver
from django.urls.resolvers import URLResolver
from django_tenants.utils import schema_context

from members.models import Member
from miniprograms.models import Order, Refund
from tests.miniprograms.conftest import PW, build_world

pytestmark = pytest.mark.django_db
MARK = "MARKxq7"

# route -> (who owns it: "member" | "staff", method, how to fill its ids from the world)
CASES: dict[str, tuple[str, str, callable]] = {
    "api/v1/staff/stores/<int:store_id>": ("staff", "GET", lambda w: {"store_id": w.s1.pk}),
    "api/v1/staff/guides/<int:guide_id>": ("staff", "GET", lambda w: {"guide_id": w.guide.pk}),
    "api/v1/staff/guides/<int:guide_id>/move": ("staff", "POST", lambda w: {"guide_id": w.guide.pk}),
    "api/v1/staff/guides/<int:guide_id>/login": ("staff", "POST", lambda w: {"guide_id": w.guide.pk}),
    "api/v1/staff/guides/<int:guide_id>/reassign-members": ("staff", "POST", lambda w: {"guide_id": w.guide.pk}),
    "api/v1/staff/members/<int:member_id>": ("staff", "GET", lambda w: {"member_id": w.alice.pk}),
    "api/v1/staff/members/<int:member_id>/guide": ("staff", "POST", lambda w: {"member_id": w.alice.pk}),
    "api/v1/staff/members/<int:member_id>/tier": ("staff", "POST", lambda w: {"member_id": w.alice.pk}),
    "api/v1/staff/points/members/<int:member_id>": ("staff", "GET", lambda w: {"member_id": w.alice.pk}),
    "api/v1/staff/points/members/<int:member_id>/entries": ("staff", "GET", lambda w: {"member_id": w.alice.pk}),
    "api/v1/staff/points/members/<int:member_id>/adjustments": ("staff", "POST", lambda w: {"member_id": w.alice.pk}),
    "api/v1/mp/orders/<int:order_id>": ("member", "GET", lambda w: {"order_id": w.order.pk}),
    "api/v1/mp/orders/<int:order_id>/pay": ("member", "POST", lambda w: {"order_id": w.order.pk}),
    "api/v1/mp/orders/<int:order_id>/cancel": ("member", "POST", lambda w: {"order_id": w.order.pk}),
    "api/v1/mp/orders/<int:order_id>/refund": ("member", "POST", lambda w: {"order_id": w.order.pk}),
    "api/v1/console/shops/<int:shop_id>": ("staff", "PATCH", lambda w: {"shop_id": w.shop1.pk}),
    "api/v1/console/shops/<int:shop_id>/skus/<int:sku_id>": (
        "staff",
        "PUT",
        lambda w: {"shop_id": w.shop1.pk, "sku_id": w.sku.pk},
    ),
    "api/v1/console/orders/<int:order_id>/fulfilment": ("staff", "POST", lambda w: {"order_id": w.order.pk}),
    "api/v1/console/refunds/<int:refund_id>/approve": ("staff", "POST", lambda w: {"refund_id": w.refund.pk}),
    "api/v1/console/refunds/<int:refund_id>/reject": ("staff", "POST", lambda w: {"refund_id": w.refund.pk}),
    "api/v1/console/refunds/<int:refund_id>/goods-received": ("staff", "POST", lambda w: {"refund_id": w.refund.pk}),
    "api/v1/console/refunds/<int:refund_id>/abnormal-resolve": (
        "staff",
        "POST",
        lambda w: {"refund_id": w.refund.pk},
    ),
    "api/v1/console/guides/<int:guide_id>/share-codes": ("staff", "POST", lambda w: {"guide_id": w.guide.pk}),
    "api/v1/console/stores/<int:store_id>/pos-keys": ("staff", "GET", lambda w: {"store_id": w.s1.pk}),
    "api/v1/console/stores/<int:store_id>/pos-keys/<int:key_id>/revoke": (
        "staff",
        "POST",
        lambda w: {"store_id": w.s1.pk, "key_id": w.pos_key_id},
    ),
    "api/v1/auth/tokens/<int:token_id>/revoke": ("staff", "POST", lambda w: {"token_id": w.m1_token_id}),
    # livestream: a store's room and goods belong to that store's franchisee
    "api/v1/console/live/rooms/<int:room_id>": ("staff", "GET", lambda w: {"room_id": w.room_id}),
    "api/v1/console/live/rooms/<int:room_id>/publish": ("staff", "POST", lambda w: {"room_id": w.room_id}),
    "api/v1/console/live/rooms/<int:room_id>/goods": ("staff", "POST", lambda w: {"room_id": w.room_id}),
    "api/v1/console/live/rooms/<int:room_id>/share-code": ("staff", "GET", lambda w: {"room_id": w.room_id}),
    "api/v1/console/live/rooms/<int:room_id>/push": ("staff", "POST", lambda w: {"room_id": w.room_id}),
    "api/v1/console/live/rooms/<int:room_id>/end": ("staff", "POST", lambda w: {"room_id": w.room_id}),
    "api/v1/console/live/rooms/<int:room_id>/coupons": ("staff", "PUT", lambda w: {"room_id": w.room_id}),
    "api/v1/console/live/rooms/<int:room_id>/metrics": ("staff", "GET", lambda w: {"room_id": w.room_id}),
    "api/v1/console/live/goods/<int:goods_id>": ("staff", "GET", lambda w: {"goods_id": w.goods_id}),
    "api/v1/^console/live/goods/(?P<goods_id>[0-9]+)/(?P<action>audit|reset-audit)$": (
        "staff",
        "POST",
        lambda w: {"goods_id": w.goods_id, "action": "audit"},
    ),
}

# Routes with an id this test does not exercise yet, and why. Adding a route to ekr without a case or an entry
# here fails the test.
NOT_YET_COVERED = {
    # HQ-only routes (no franchisee or member owner; the HQ-only permission is tested per app)
    "api/v1/staff/tags/<int:tag_id>/members",
    "api/v1/staff/member-imports/<int:import_id>",
    "api/v1/staff/member-imports/<int:import_id>/chunks/<int:seq>",
    "api/v1/staff/member-imports/<int:import_id>/start",
    "api/v1/staff/member-imports/<int:import_id>/errors",
    "api/v1/console/products/<int:product_id>/push",
    "api/v1/console/products/<int:product_id>/push-all",
    "api/v1/console/shop-pushes/<int:push_id>",
    "api/v1/console/coupon-templates/<int:template_id>/grant",
    "api/v1/console/commission-payouts/<int:payout_id>/approve",
    "api/v1/console/commission-payouts/<int:payout_id>/pay",
    "api/v1/market/offers/<int:offer_id>/restock",
    "api/v1/market/offers/<int:offer_id>/pause",
    "api/v1/market/offers/<int:offer_id>/resume",
    "api/v1/market/offers/<int:offer_id>/end",
    "api/v1/market/listings/<int:listing_id>/delist",
    "api/v1/market/statements/<int:statement_id>.csv",
    "api/v1/market/statements/<int:statement_id>/confirm",
    "api/v1/ops/market/statements/<int:statement_id>/paid",
    # public catalogue reads (no owner: any member of the brand may read them), live rooms a member watches
    "api/v1/mp/live/rooms/<int:room_id>",
    "api/v1/mp/live/rooms/<int:room_id>/events",
    "api/v1/mp/shops/<int:shop_id>/catalog",
    "api/v1/mp/coupon-templates/<int:template_id>/claim",
    # needs a whole cross-brand exchange to exist (covered by tests/rights_market/test_api.py's isolation tests)
    "api/v1/market/mp/exchanges/<int:exchange_id>",
    # WeChat callbacks: the id is an appid, checked against the host's brand (tests/callbacks)
    r"wechat/^callback/(?P<appid>[^/]{1,64})/?$",
    r"wechat/^pay/notify/(?P<appid>[^/]{1,64})/?$",
    r"wechat/^pay/v3/notify/(?P<appid>[^/]{1,64})/?$",
}
CONSOLE_PAGES = re.compile(r"^console/")  # the server-rendered console: session logins, covered in tests/console


def _routes(urlconf: str):
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern)

    return [
        r
        for r in walk(get_resolver(urlconf).url_patterns)
        if ("<" in r or "(?P" in r) and not r.startswith("admin/") and not CONSOLE_PAGES.match(r)
    ]


def test_every_route_with_an_id_has_a_case():
    routes = set(_routes("ekr.urls_tenants")) | set(_routes("ekr.urls_public"))
    missing = sorted(routes - set(CASES) - NOT_YET_COVERED)
    assert missing == [], f"routes with an id and no object-access case: {missing}"


def _fill(route: str, ids: dict) -> str:
    path = route
    for name, value in ids.items():
        path = re.sub(rf"<int:{name}>|\(\?P<{name}>[^)]*\)", str(value), path)
    return "/" + path.replace("^", "").replace("$", "")


@pytest.fixture
def world(brand_a, brand_b, fake_wechat, client_for):
    from members.services import guide_login_grant
    from miniprograms.services.pos import pos_api_key_create

    w = build_world(brand_a, fake_wechat)
    build_world(brand_b, fake_wechat)  # brand B has rows with ids of its own
    with schema_context(w.schema):
        Member.objects.filter(pk=w.alice.pk).update(store=w.s1, name=f"Alice {MARK}")
        w.s1.name = f"F1 {MARK}"
        w.s1.save(update_fields=["name"])
        w.order = Order.objects.create(
            number=f"N{MARK}",
            store=w.s1,
            shop=w.shop1,
            member=w.alice,
            appid=w.app.appid,
            status=Order.Status.REFUNDING,
            subtotal_fen=1000,
            total_fen=1000,
            delivery_address={"note": MARK},
        )
        w.refund = Refund.objects.create(order=w.order, number=f"R{MARK}", amount_fen=1000, reason=MARK)
        raw = pos_api_key_create(store=w.s1)
        from miniprograms.models import PosApiKey

        w.pos_key_id = PosApiKey.objects.get(prefix=raw.split(".")[0]).pk
        guide_login_grant(guide=w.guide, username="guide-walker", password="tea-leaf-horizon-42")
        from django.utils import timezone

        from livestream.models import LiveGoods, LiveRoom

        now = timezone.now()
        w.room_id = LiveRoom.objects.create(
            name=f"Room {MARK}",
            store=w.s1,
            shop=w.shop1,
            source="external",
            external_url="https://example.com/live",
            start_at=now,
            end_at=now + timezone.timedelta(hours=1),
        ).pk
        w.goods_id = LiveGoods.objects.create(store=w.s1, name=f"G {MARK}", price_fen=100, url="pages/p?id=1").pk
    w.clients = {
        "owner_staff": client_for(brand_a).as_staff("m1", PW),
        "owner_member": client_for(brand_a).as_member(w.tokens[w.alice.pk]),
        "other member": client_for(brand_a).as_member(w.tokens[w.bob.pk]),
        "other franchisee's manager": client_for(brand_a).as_staff("m2", PW),
        "guide": client_for(brand_a).as_staff("guide-walker", "tea-leaf-horizon-42"),
        "anonymous": client_for(brand_a),
        "brand B HQ on brand B's host": client_for(brand_b).as_staff("beta-hq", "hq-password-1"),
    }
    b_token = w.clients["brand B HQ on brand B's host"]._credentials["HTTP_AUTHORIZATION"]
    w.clients["brand B HQ on brand A's host"] = client_for(brand_a)
    w.clients["brand B HQ on brand A's host"].credentials(HTTP_AUTHORIZATION=b_token)
    with schema_context(w.schema):
        from core.models import ApiToken

        w.m1_token_id = ApiToken.objects.get(user__username="m1").pk
    return w


def _call(client, method, path):
    return getattr(client, method.lower())(path, {}, format="json")


@pytest.mark.parametrize("route", sorted(CASES))
def test_only_the_owner_reaches_the_object(world, route):
    owner_kind, method, ids = CASES[route]
    path = _fill(route, ids(world))
    for who, client in world.clients.items():
        if who.startswith("owner"):
            continue
        response = _call(client, method, path)
        body = response.content.decode()
        assert MARK not in body, (who, route, body[:300])
        if who == "brand B HQ on brand B's host":
            # the same ids name brand B's own rows there (one sequence per schema): B may see those, never A's
            continue
        assert response.status_code in (401, 403, 404, 405), (who, route, response.status_code, body[:300])
        assert set(response.json()["error"]) == {"code", "message", "fields"}, (who, route)
    if method == "GET":  # the owner's own answer (actions are tested for their effects in each app)
        owner = world.clients["owner_member" if owner_kind == "member" else "owner_staff"]
        response = _call(owner, method, path)
        assert response.status_code == 200, (route, response.content[:300])

"""Demo data: two brands a newcomer can click through. Every write goes through the apps' services."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import schema_context

from tenants.models import Brand, WeChatApp
from tenants.services import brand_create, wechat_app_add

OPS_LOGIN = ("ops", "ops-demo-2026")

DEMO_BRANDS = [
    {
        "slug": "yunshang",
        "name": "云裳 Yunshang",
        "industry": Brand.Industry.APPAREL,
        "admin": ("hq", "yunshang-hq-2026"),
        "manager": ("manager", "yunshang-mgr-2026"),
        "appid": "wx5e1a0c0ffee00001",
        "franchisee": "杭州锦程服饰有限公司",
    },
    {
        "slug": "huayan",
        "name": "花颜 Huayan",
        "industry": Brand.Industry.BEAUTY,
        "admin": ("hq", "huayan-hq-2026"),
        "manager": ("manager", "huayan-mgr-2026"),
        "appid": "wx5e1a0c0ffee00002",
        "franchisee": "成都蓉美商贸有限公司",
    },
]


def seed_demo(*, stdout=None) -> None:
    User = get_user_model()
    connection.set_schema_to_public()
    if not User.objects.filter(username=OPS_LOGIN[0]).exists():
        User.objects.create_superuser(username=OPS_LOGIN[0], password=OPS_LOGIN[1], email="")
    for spec in DEMO_BRANDS:
        brand = Brand.objects.filter(slug=spec["slug"]).first()
        if brand is None:
            brand = brand_create(
                slug=spec["slug"],
                name=spec["name"],
                industry=spec["industry"],
                admin_username=spec["admin"][0],
                admin_password=spec["admin"][1],
            )
        if not WeChatApp.objects.filter(appid=spec["appid"]).exists():
            wechat_app_add(
                brand=brand,
                appid=spec["appid"],
                secret=f"demo-secret-{spec['slug']}",
                token=f"demotoken{spec['slug']}",
                aes_key=("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
                name=f"{spec['name']} 小程序",
            )
        with schema_context(brand.schema_name):
            seed_brand(brand=brand, spec=spec)
        if stdout:
            stdout.write(f"demo brand {brand.slug} ready")
    connection.set_schema_to_public()
    seed_market()


def seed_market() -> None:
    """Yunshang publishes a coupon to the rights market; Huayan lists it for its members at 500 points."""
    from rights_market.models import Listing, Offer
    from rights_market.services.catalogue import listing_create, offer_publish

    issuer = Brand.objects.get(slug=DEMO_BRANDS[0]["slug"])
    acceptor = Brand.objects.get(slug=DEMO_BRANDS[1]["slug"])
    offer = Offer.objects.filter(issuer=issuer, source_ref="demo:welcome-coupon").first()
    if offer is None:
        offer = offer_publish(
            issuer=issuer,
            total_stock=500,
            kind=Offer.Kind.COUPON,
            title="云裳 满300减50 券",
            description="云裳全国门店及小程序可用",
            face_value_fen=5_000,
            settlement_price_fen=800,
            source_ref="demo:welcome-coupon",
        )
    if not Listing.objects.filter(brand=acceptor, offer=offer).exists():
        listing_create(brand=acceptor, offer_id=offer.pk, points_price=500)


def seed_brand(*, brand: Brand, spec: dict) -> None:
    """Brand-side demo rows, made once (skipped when the brand already has stores)."""
    from members.models import Franchisee, StaffProfile, Store

    User = get_user_model()
    franchisee = Franchisee.objects.filter(name=spec["franchisee"]).first()
    if franchisee is None:
        from members.services import franchisee_create

        franchisee = franchisee_create(name=spec["franchisee"])
    manager = User.objects.filter(username=spec["manager"][0]).first()
    if manager is None:
        manager = User.objects.create_user(username=spec["manager"][0], password=spec["manager"][1])
    StaffProfile.objects.get_or_create(user=manager, defaults={"franchisee": franchisee})
    if Store.objects.exists():
        return
    _seed_people_and_sales(spec=spec, franchisee=franchisee)


_STORES = [
    ("SH001", "上海南京西路旗舰店", "上海", "华东", "direct"),
    ("SH002", "上海徐家汇店", "上海", "华东", "direct"),
    ("HZ001", "杭州湖滨银泰店", "杭州", "华东", "franchise"),
    ("CD001", "成都太古里店", "成都", "西南", "franchise"),
]
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = ["婷", "伟", "芳", "静", "磊", "洋", "敏", "丽", "强", "艳", "娜", "杰", "雪", "晨", "琳"]


def _seed_people_and_sales(*, spec: dict, franchisee) -> None:
    import datetime as dt
    import random

    from members.services import card_level_create, guide_create, member_register, store_create
    from miniprograms.services.catalog import product_create, shop_create, shop_sku_set
    from points.services import points_earn

    rng = random.Random(spec["slug"])  # the same demo every time
    card_level_create(name="银卡", rank=1)
    card_level_create(name="金卡", rank=2, threshold_points=2000, threshold_spent_fen=200_000, points_multiplier="1.5")
    card_level_create(name="钻石卡", rank=3, threshold_points=8000, threshold_spent_fen=800_000, points_multiplier="2")
    stores, guides = [], []
    for code, name, city, region, kind in _STORES:
        store = store_create(
            code=code,
            name=f"{spec['name'].split()[0]}{name}",
            city=city,
            region=region,
            kind=kind,
            franchisee=franchisee if kind == "franchise" else None,
            opened_on=dt.date(2019, 5, 1),
        )
        stores.append(store)
        for n in range(2):
            guides.append(
                guide_create(
                    store=store, name=rng.choice(_SURNAMES) + rng.choice(_GIVEN), employee_no=f"{code}-G{n + 1}"
                )
            )
    for i in range(40):
        guide = rng.choice(guides)
        member, _ = member_register(
            openid=f"demo-{spec['slug']}-{i:03d}",
            phone=f"139{rng.randrange(10**8):08d}",
            name=rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(_GIVEN),
            birthday=dt.date(rng.randrange(1975, 2004), rng.randrange(1, 13), rng.randrange(1, 28)),
            store_code=guide.store.code,
            guide_id=guide.pk,
        )
        for j in range(rng.randrange(0, 4)):
            points_earn(
                member=member,
                points=rng.randrange(50, 900),
                idempotency_key=f"demo:{member.pk}:{j}",
                reason="门店消费 (demo)",
            )
    product = product_create(
        name=f"{spec['name'].split()[0]} 经典款",
        description="demo product",
        skus=[
            {"code": f"{spec['slug'].upper()}-001-S", "price_fen": 29_900, "attributes": {"size": "S"}},
            {"code": f"{spec['slug'].upper()}-001-M", "price_fen": 29_900, "attributes": {"size": "M"}},
        ],
    )
    for store in stores:
        shop = shop_create(store=store, name=f"{store.name} 小程序店")
        for sku in product.skus.all():
            shop_sku_set(shop=shop, sku=sku, stock=rng.randrange(5, 50))

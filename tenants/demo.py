"""Demo data: two brands a newcomer can click through. Every write goes through the apps' services."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import schema_context

from tenants.models import Brand, WeChatApp
from tenants.services import brand_create, wechat_app_add

OPS_LOGIN = ("ops", "ops-demo-2026")

DEMO_BRANDS = [
    {"slug": "yunshang", "name": "云裳 Yunshang", "industry": Brand.Industry.APPAREL,
     "admin": ("hq", "yunshang-hq-2026"), "manager": ("manager", "yunshang-mgr-2026"),
     "appid": "wx5e1a0c0ffee00001", "franchisee": "杭州锦程服饰有限公司"},
    {"slug": "huayan", "name": "花颜 Huayan", "industry": Brand.Industry.BEAUTY,
     "admin": ("hq", "huayan-hq-2026"), "manager": ("manager", "huayan-mgr-2026"),
     "appid": "wx5e1a0c0ffee00002", "franchisee": "成都蓉美商贸有限公司"},
]


def seed_demo(*, stdout=None) -> None:
    User = get_user_model()
    connection.set_schema_to_public()
    if not User.objects.filter(username=OPS_LOGIN[0]).exists():
        User.objects.create_superuser(username=OPS_LOGIN[0], password=OPS_LOGIN[1], email="")
    for spec in DEMO_BRANDS:
        brand = Brand.objects.filter(slug=spec["slug"]).first()
        if brand is None:
            brand = brand_create(slug=spec["slug"], name=spec["name"], industry=spec["industry"],
                                 admin_username=spec["admin"][0], admin_password=spec["admin"][1])
        if not WeChatApp.objects.filter(appid=spec["appid"]).exists():
            wechat_app_add(brand=brand, appid=spec["appid"], secret=f"demo-secret-{spec['slug']}",
                           token=f"demotoken{spec['slug']}", aes_key=("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
                           name=f"{spec['name']} 小程序")
        with schema_context(brand.schema_name):
            seed_brand(brand=brand, spec=spec)
        if stdout:
            stdout.write(f"demo brand {brand.slug} ready")
    connection.set_schema_to_public()


def seed_brand(*, brand: Brand, spec: dict) -> None:
    """Brand-side demo rows (franchisee, store manager; the apps add stores, members, points...)."""
    from members.models import Franchisee, StaffProfile

    User = get_user_model()
    franchisee, _ = Franchisee.objects.get_or_create(name=spec["franchisee"], defaults={"contact_name": "王经理"})
    manager = User.objects.filter(username=spec["manager"][0]).first()
    if manager is None:
        manager = User.objects.create_user(username=spec["manager"][0], password=spec["manager"][1])
    StaffProfile.objects.get_or_create(user=manager, defaults={"franchisee": franchisee})

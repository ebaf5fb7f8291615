"""Fixtures for the shops tests: a brand world (merchant account on its mini-program, franchisees, stores, shops,
a product on sale, members with session tokens)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from members.models import Franchisee, Guide, Member, StaffProfile, Store
from members.mp_auth import member_token_issue
from miniprograms.models import Category, Product, Shop, ShopSku, Sku
from tenants.models import WeChatApp

MCH_KEY = "k" * 32
PW = "manager-password-1"


def build_world(brand, fake, *, stock: int = 10, price_fen: int = 1000, sign_type: str = "MD5"):
    app = WeChatApp.objects.get(brand=brand, kind=WeChatApp.Kind.MINIPROGRAM)
    app.mch_id = "1900" + uuid.uuid4().hex[:6]
    app.mch_key = MCH_KEY
    app.pay_sign_type = sign_type
    app.save(update_fields=["mch_id", "mch_key", "pay_sign_type"])
    fake.merchant(app.mch_id, MCH_KEY, app.appid)
    with schema_context(brand.schema_name):
        f1 = Franchisee.objects.create(name="F1")
        f2 = Franchisee.objects.create(name="F2")
        hq_store = Store.objects.create(code="S0", name="Flagship", city="Shanghai")
        s1 = Store.objects.create(code="S1", name="One", city="Hangzhou", kind="franchise", franchisee=f1)
        s2 = Store.objects.create(code="S2", name="Two", city="Hangzhou", kind="franchise", franchisee=f2)
        shop = Shop.objects.create(store=hq_store, name="Flagship shop")
        shop1 = Shop.objects.create(store=s1, name="Shop one")
        shop2 = Shop.objects.create(store=s2, name="Shop two")
        category = Category.objects.create(name="Tea")
        product = Product.objects.create(name="Green tea", category=category)
        sku = Sku.objects.create(product=product, code=f"GT-{uuid.uuid4().hex[:6]}", price_fen=price_fen)
        entry = ShopSku.objects.create(shop=shop, sku=sku, stock=stock)
        ShopSku.objects.create(shop=shop1, sku=sku, stock=stock, price_fen=price_fen - 100)
        alice = Member.objects.create(openid="o-alice-" + uuid.uuid4().hex[:6], name="Alice")
        bob = Member.objects.create(openid="o-bob-" + uuid.uuid4().hex[:6], name="Bob")
        guide = Guide.objects.create(name="G", employee_no="E" + uuid.uuid4().hex[:6], store=s1)
        users = get_user_model()
        m1 = users.objects.create_user(username="m1", password=PW)
        m2 = users.objects.create_user(username="m2", password=PW)
        StaffProfile.objects.create(user=m1, franchisee=f1)
        StaffProfile.objects.create(user=m2, franchisee=f2)
    tokens = {
        m.pk: member_token_issue(schema=brand.schema_name, appid=app.appid, openid=m.openid) for m in (alice, bob)
    }
    return SimpleNamespace(
        brand=brand,
        app=app,
        f1=f1,
        f2=f2,
        hq_store=hq_store,
        s1=s1,
        s2=s2,
        shop=shop,
        shop1=shop1,
        shop2=shop2,
        category=category,
        product=product,
        sku=sku,
        entry=entry,
        alice=alice,
        bob=bob,
        guide=guide,
        tokens=tokens,
        schema=brand.schema_name,
    )


@pytest.fixture
def world(brand_a, fake_wechat):
    return build_world(brand_a, fake_wechat)


@pytest.fixture
def world_b(brand_b, fake_wechat):
    return build_world(brand_b, fake_wechat)


@pytest.fixture
def member_client(client_for):
    def make(w, member):
        return client_for(w.brand).as_member(w.tokens[member.pk])

    return make


@pytest.fixture
def hq_client(client_for):
    def make(w):
        return client_for(w.brand).as_staff(f"{w.brand.slug}-hq", "hq-password-1")

    return make


@pytest.fixture
def manager_client(client_for):
    def make(w, username):
        return client_for(w.brand).as_staff(username, PW)

    return make

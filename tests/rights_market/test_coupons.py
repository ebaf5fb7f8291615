"""A voucher from a coupon template becomes a real coupon of the issuer's shops: claimed in the issuer's
mini-program, used there or at a store's POS by code, with the template's rules; the voucher follows it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from core.errors import ApplicationError
from members.models import Member
from miniprograms.models import Coupon, CouponTemplate
from miniprograms.services.coupons import coupon_template_create
from miniprograms.services.orders import order_cancel, order_place
from miniprograms.services.pos import pos_orders_record
from rights_market.brandside.models import Voucher
from rights_market.brandside.services import voucher_claim
from rights_market.models import Exchange
from rights_market.services.catalogue import offers_publish_coupon_templates
from rights_market.services.exchanges import exchange_advance
from tests.miniprograms.conftest import build_world
from tests.rights_market.factories import exchange_requested, listing_make, member_make

S = Exchange.Status


@pytest.fixture
def world(brand_a, fake_wechat):
    return build_world(brand_a, fake_wechat, price_fen=1500)


@pytest.fixture
def template(world):
    with schema_context(world.schema):
        return coupon_template_create(
            name="满20减10",
            kind="amount_off",
            amount_off_fen=1000,
            threshold_fen=2000,
            total_stock=3,
            per_member_limit=1,
            valid_hours=24 * 7,
        )


def won_voucher(brand_a, brand_b, template, *, stock=None) -> Voucher:
    """A member of beta wins a voucher from alpha's template through the market."""
    with schema_context(brand_a.schema_name):
        [offer] = offers_publish_coupon_templates(
            issuer=brand_a, template_ids=[template.pk], settlement_price_fen=300, stock_per_template=stock
        )
    listing = listing_make(brand_b, offer, points_price=100)
    exchange = exchange_requested(brand_b, member_make(brand_b, points=100), listing)
    exchange_advance(exchange_id=exchange.pk)
    exchange.refresh_from_db()
    assert exchange.status == S.FULFILLED, exchange.last_error
    with schema_context(brand_a.schema_name):
        return Voucher.objects.get(exchange_id=exchange.pk)


def receipt(world, no, **extra):
    return {"receipt_no": no, "lines": [{"sku_code": world.sku.code, "quantity": 2, "unit_price_fen": 1500}], **extra}


def test_claim_makes_a_coupon_of_the_template_owned_by_the_claimer(brand_a, brand_b, world, template):
    voucher = won_voucher(brand_a, brand_b, template)
    with schema_context(world.schema):
        assert CouponTemplate.objects.get(pk=template.pk).issued_count == 1  # taken when the voucher was issued
        claimed = voucher_claim(code=voucher.code.lower(), openid="o-newcomer")
        coupon = Coupon.objects.get(pk=claimed.coupon_id)
        assert (coupon.member_id, coupon.template_id, coupon.code, coupon.source, coupon.status) == (
            claimed.claimed_member_id,
            template.pk,
            voucher.code,
            "market",
            "available",
        )
        assert coupon.valid_until == voucher.valid_until
        assert claimed.claimed_member.join_channel == "rights_market"
        again = voucher_claim(code=voucher.code, openid="o-newcomer")  # claiming again: the same coupon
        assert again.coupon_id == coupon.pk and Coupon.objects.filter(code=voucher.code).count() == 1
        assert CouponTemplate.objects.get(pk=template.pk).issued_count == 1


def test_used_at_the_issuers_pos_by_code_with_the_templates_rules_once(brand_a, brand_b, world, template):
    voucher = won_voucher(brand_a, brand_b, template)
    with schema_context(world.schema):
        claimed = voucher_claim(code=voucher.code, openid="o-pos")
        too_small = {
            "receipt_no": "R0",
            "coupon_code": voucher.code,
            "lines": [{"sku_code": world.sku.code, "quantity": 1, "unit_price_fen": 1500}],
        }
        [small] = pos_orders_record(store=world.s1, receipts=[too_small])
        assert (small.status, small.error["code"]) == ("error", "coupon_not_applicable")  # threshold 20 yuan

        [first] = pos_orders_record(store=world.s1, receipts=[receipt(world, "R1", coupon_code=voucher.code)])
        assert first.status == "created", first.error
        order = claimed.claimed_member.orders.get(pk=first.order_id)
        assert (order.subtotal_fen, order.discount_fen, order.total_fen) == (3000, 1000, 2000)
        assert order.coupon.code == voucher.code and order.member_id == claimed.claimed_member_id
        voucher.refresh_from_db()
        assert voucher.status == "used" and voucher.used_at is not None

        [dup] = pos_orders_record(store=world.s1, receipts=[receipt(world, "R1", coupon_code=voucher.code)])
        assert (dup.status, dup.order_id) == ("duplicate", first.order_id)
        [second] = pos_orders_record(store=world.s2, receipts=[receipt(world, "R2", coupon_code=voucher.code)])
        assert (second.status, second.error["code"], second.error["fields"]) == (
            "error",
            "coupon_unusable",
            {"coupon": ["used"]},
        )
        assert "already used" in second.error["message"]


def test_a_coupon_of_one_member_is_not_used_for_another(brand_a, brand_b, world, template):
    voucher = won_voucher(brand_a, brand_b, template)
    with schema_context(world.schema):
        voucher_claim(code=voucher.code, openid="o-holder")
        Member.objects.filter(pk=world.bob.pk).update(store=world.s1)  # bob is in the POS store's scope
        [result] = pos_orders_record(
            store=world.s1, receipts=[receipt(world, "R9", coupon_code=voucher.code, member_id=world.bob.pk)]
        )
        assert (result.status, result.error["code"]) == ("error", "coupon_not_yours")
        assert Coupon.objects.get(code=voucher.code).status == "available"


def test_used_in_the_issuers_shop_and_given_back_when_the_order_is_cancelled(brand_a, brand_b, world, template):
    voucher = won_voucher(brand_a, brand_b, template)
    with schema_context(world.schema):
        claimed = voucher_claim(code=voucher.code, openid="o-shop")
        member = claimed.claimed_member
        order = order_place(
            member=member, shop=world.shop, items=[{"sku_id": world.sku.pk, "quantity": 2}], coupon_id=claimed.coupon_id
        )
        assert (order.subtotal_fen, order.discount_fen) == (3000, 1000)
        voucher.refresh_from_db()
        assert voucher.status == "used"
        order_cancel(order_id=order.pk, reason="changed my mind", member=member)
        voucher.refresh_from_db()
        assert (voucher.status, voucher.used_at) == ("issued", None)
        assert Coupon.objects.get(pk=claimed.coupon_id).status == "available"


def test_an_expired_coupon_is_refused_with_its_date(brand_a, brand_b, world, template):
    voucher = won_voucher(brand_a, brand_b, template)
    with schema_context(world.schema):
        claimed = voucher_claim(code=voucher.code, openid="o-late")
        Coupon.objects.filter(pk=claimed.coupon_id).update(valid_until=timezone.now() - timedelta(minutes=1))
        [result] = pos_orders_record(store=world.s1, receipts=[receipt(world, "R3", coupon_code=voucher.code)])
        assert (result.error["code"], result.error["fields"]) == ("coupon_unusable", {"coupon": ["expired"]})
        assert "expired at" in result.error["message"]
        with pytest.raises(ApplicationError) as exc:
            order_place(
                member=claimed.claimed_member,
                shop=world.shop,
                items=[{"sku_id": world.sku.pk, "quantity": 2}],
                coupon_id=claimed.coupon_id,
            )
        assert exc.value.fields == {"coupon": ["expired"]}


def test_a_sold_out_template_undoes_the_exchange_at_once(brand_a, brand_b, world, template):
    with schema_context(world.schema):
        [offer] = offers_publish_coupon_templates(issuer=brand_a, template_ids=[template.pk])
        CouponTemplate.objects.filter(pk=template.pk).update(issued_count=3)  # handed out elsewhere meanwhile
    member = member_make(brand_b, points=100)
    exchange = exchange_requested(brand_b, member, listing_make(brand_b, offer, points_price=100))
    exchange_advance(exchange_id=exchange.pk)
    exchange.refresh_from_db()
    assert (exchange.status, exchange.undo_reason) == (S.UNDONE, "fulfilment_failed")  # no retries
    assert "all gone" in exchange.last_error
    with schema_context(world.schema):
        assert not Voucher.objects.filter(exchange_id=exchange.pk).exists()


def test_a_store_taking_the_claimed_voucher_by_code_uses_its_coupon(brand_a, brand_b, world, template):
    from rights_market.brandside.services import voucher_use

    voucher = won_voucher(brand_a, brand_b, template)
    with schema_context(world.schema):
        claimed = voucher_claim(code=voucher.code, openid="o-counter")
        taken = voucher_use(code=voucher.code, store_code=world.s1.code, order_amount_fen=4200)
        assert (taken.status, taken.used_store_id, taken.order_amount_fen) == ("used", world.s1.pk, 4200)
        assert Coupon.objects.get(pk=claimed.coupon_id).status == "used"
        [result] = pos_orders_record(store=world.s1, receipts=[receipt(world, "R7", coupon_code=voucher.code)])
        assert (result.error["code"], result.error["fields"]) == ("coupon_unusable", {"coupon": ["used"]})
        with pytest.raises(ApplicationError) as exc:
            voucher_use(code=voucher.code, store_code=world.s1.code)
        assert exc.value.code == "coupon_unusable"

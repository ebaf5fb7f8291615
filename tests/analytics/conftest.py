"""Hand-made facts for the analytics tests: stores of two franchisees, guides, store managers, and helpers that
write orders, refunds, members and visits at chosen Asia/Shanghai times."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

SH = ZoneInfo("Asia/Shanghai")
D = dt.date(2026, 3, 10)  # the day most tests look at
PW = "manager-password-1"
_seq = itertools.count(1)


def at(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SH)


def build_world(brand):
    from members.models import Franchisee, Guide, StaffProfile, Store

    with schema_context(brand.schema_name):
        f1 = Franchisee.objects.create(name="F1")
        f2 = Franchisee.objects.create(name="F2")
        s0 = Store.objects.create(code="A0", name="Flagship")
        s1 = Store.objects.create(code="A1", name="One", kind="franchise", franchisee=f1)
        s2 = Store.objects.create(code="A2", name="Two", kind="franchise", franchisee=f2)
        g1 = Guide.objects.create(name="G1", employee_no="E1", store=s1)
        g2 = Guide.objects.create(name="G2", employee_no="E2", store=s2)
        users = get_user_model()
        m1 = users.objects.create_user(username="am1", password=PW)
        m2 = users.objects.create_user(username="am2", password=PW)
        StaffProfile.objects.create(user=m1, franchisee=f1)
        StaffProfile.objects.create(user=m2, franchisee=f2)
    return SimpleNamespace(
        brand=brand, schema=brand.schema_name, f1=f1, f2=f2, s0=s0, s1=s1, s2=s2, g1=g1, g2=g2, m1=m1, m2=m2
    )


@pytest.fixture
def world(brand_a):
    return build_world(brand_a)


@pytest.fixture
def world_b(brand_b):
    return build_world(brand_b)


def member(
    *,
    joined: dt.datetime,
    channel: str = "mini_program",
    store=None,
    join_store=None,
    guide=None,
    openid: str | None = None,
    phone_hash: str | None = None,
    birthday: dt.date | None = None,
    **extra,
):
    from members.models import Member

    return Member.objects.create(
        openid=openid,
        phone_hash=phone_hash,
        joined_at=joined,
        join_channel=channel,
        store=store,
        join_store=join_store,
        join_guide=guide,
        birthday=birthday,
        **extra,
    )


def order(
    *,
    store,
    paid: dt.datetime | None,
    total: int = 1000,
    channel: str = "pos",
    member=None,
    guide=None,
    status: str = "paid",
    coupon=None,
):
    from miniprograms.models import Order

    n = next(_seq)
    return Order.objects.create(
        number=f"T{uuid.uuid4().hex[:12]}{n}",
        channel=channel,
        store=store,
        member=member,
        guide=guide,
        status=status,
        subtotal_fen=total,
        total_fen=total,
        coupon=coupon,
        receipt_no=f"R{n}" if channel == "pos" else None,
        created_at=paid or at(D),
        paid_at=paid,
    )


def nonmember_sale(*, store, paid: dt.datetime, kind: str, identity: str = "", total: int = 500):
    """A POS sale to a non-member, with its buyer fact as miniprograms.services.pos writes it."""
    from miniprograms.models import NonMemberBuyer

    o = order(store=store, paid=paid, total=total)
    identity = identity or f"{store.pk}:{o.receipt_no}"
    NonMemberBuyer.objects.create(
        order=o, store=store, day=paid.astimezone(SH).date(), kind=kind, identity=identity, bought_at=paid
    )
    return o


def refund(*, order, decided: dt.datetime, amount: int | None = None):
    from miniprograms.models import Refund

    order.status = "refunded"
    order.save(update_fields=["status"])
    return Refund.objects.create(
        order=order,
        number=f"R{uuid.uuid4().hex[:12]}",
        amount_fen=amount if amount is not None else order.total_fen,
        status="succeeded",
        created_at=decided,
        decided_at=decided,
    )


def visit(member_obj, day: dt.date):
    from members.models import MemberVisit

    MemberVisit.objects.create(member=member_obj, day=day)

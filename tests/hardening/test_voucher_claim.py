"""Defect 12: voucher_claim refuses used, void and expired vouchers, and makes no member for them."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict
from members.models import Member
from rights_market.brandside.models import Voucher
from rights_market.brandside.services import voucher_claim

_exchange_ids = itertools.count(900_001)


def _voucher(code, *, status="issued", valid_days=30):
    now = timezone.now()
    return Voucher.objects.create(
        exchange_id=next(_exchange_ids),
        offer_id=1,
        accepting_brand_id=2,
        code=code,
        title="10 off",
        kind="coupon",
        face_value_fen=1000,
        status=status,
        valid_until=now + timedelta(days=valid_days),
        used_at=now if status == "used" else None,
        created_at=now,
    )


@pytest.mark.parametrize(
    "status, valid_days, code",
    [("used", 30, "voucher_used"), ("void", 30, "voucher_void"), ("issued", -1, "voucher_expired")],
)
def test_a_used_void_or_expired_voucher_cannot_be_claimed(brand_a, in_schema, status, valid_days, code):
    with in_schema(brand_a):
        voucher = _voucher(f"V{status.upper()}{valid_days + 5}", status=status, valid_days=valid_days)
        with pytest.raises(Conflict) as info:
            voucher_claim(code=voucher.code, openid="o-claimer")
        assert info.value.code == code
        assert Voucher.objects.get(pk=voucher.pk).claimed_member_id is None
        assert not Member.objects.filter(openid="o-claimer").exists()


def test_a_valid_voucher_is_still_claimed(brand_a, in_schema):
    with in_schema(brand_a):
        _voucher("VGOOD1")
        assert voucher_claim(code="vgood1", openid="o-good").claimed_member.openid == "o-good"

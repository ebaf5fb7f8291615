"""Fixtures for the members tests: one brand's stores, franchisees, guides, store managers and tiers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model

from tests.members import fake_card_routes  # noqa: F401  (registers the card endpoints on the fake WeChat)

MANAGER_PASSWORD = "manager-pass-1"


@dataclass
class World:
    brand: object
    f1: object
    f2: object
    hq_store: object
    s1: object
    s2: object
    g0: object
    g1: object
    g2: object
    m1: object  # store manager of f1
    m2: object  # store manager of f2
    silver: object
    gold: object
    platinum: object


def build_world(brand, prefix: str = "") -> World:
    from members.models import StaffProfile
    from members.services import card_level_create, franchisee_create, guide_create, store_create

    f1 = franchisee_create(name=f"{prefix}Franchisee One")
    f2 = franchisee_create(name=f"{prefix}Franchisee Two")
    hq_store = store_create(code=f"{prefix}HQ01", name="Flagship", city="Shanghai")
    s1 = store_create(code=f"{prefix}F101", name="F1 store", kind="franchise", franchisee=f1, city="Hangzhou")
    s2 = store_create(code=f"{prefix}F201", name="F2 store", kind="franchise", franchisee=f2, city="Suzhou")
    g0 = guide_create(store=hq_store, name="Wang", employee_no=f"{prefix}E000", phone="13900000000")
    g1 = guide_create(store=s1, name="Li", employee_no=f"{prefix}E001")
    g2 = guide_create(store=s2, name="Zhang", employee_no=f"{prefix}E002")
    User = get_user_model()
    m1 = User.objects.create_user(username=f"{prefix}manager1", password=MANAGER_PASSWORD)
    m2 = User.objects.create_user(username=f"{prefix}manager2", password=MANAGER_PASSWORD)
    StaffProfile.objects.create(user=m1, franchisee=f1)
    StaffProfile.objects.create(user=m2, franchisee=f2)
    silver = card_level_create(name="Silver", rank=1)
    gold = card_level_create(
        name="Gold", rank=2, threshold_points=1000, threshold_spent_fen=100_000, points_multiplier="1.5"
    )
    platinum = card_level_create(name="Platinum", rank=3, threshold_points=5000, points_multiplier="2")
    return World(brand, f1, f2, hq_store, s1, s2, g0, g1, g2, m1, m2, silver, gold, platinum)


@pytest.fixture
def world(brand_a, in_schema):
    """Brand A with its people; the test body runs in brand A's schema."""
    with in_schema(brand_a):
        yield build_world(brand_a)


@pytest.fixture
def register(world):
    """register(openid, phone, **kw) -> Member, in brand A."""
    from members.services import member_register

    def make(openid: str, phone: str, **kwargs):
        member, _ = member_register(openid=openid, phone=phone, **kwargs)
        return member

    return make

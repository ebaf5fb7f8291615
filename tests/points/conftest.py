"""Fixtures for points tests: a member of brand alpha, with the test running in alpha's schema."""

from __future__ import annotations

import uuid

import pytest
from django_tenants.utils import schema_context


@pytest.fixture
def alpha(brand_a):
    with schema_context(brand_a.schema_name):
        yield brand_a


@pytest.fixture
def make_member(alpha):
    from members.models import Member

    def make(openid: str | None = None):
        return Member.objects.create(openid=openid or f"o-{uuid.uuid4().hex[:12]}")

    return make


@pytest.fixture
def member(make_member):
    return make_member()


@pytest.fixture
def hq_user(alpha):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="alpha-hq")

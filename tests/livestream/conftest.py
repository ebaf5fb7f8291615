"""Fixtures for the live tests: the shops world (franchisees, stores, shops, members, two store managers) and
helpers to create rooms and goods through the console API against the fake WeChat."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.utils import timezone

from tests.miniprograms.conftest import PW, build_world

IMAGE = base64.b64encode(b"\xff\xd8\xff\xe0FAKEJPEG-live").decode()


def room_payload(**overrides) -> dict:
    start = timezone.now() + dt.timedelta(hours=1)
    body = {
        "source": "wechat_live",
        "name": "Spring show",
        "start_at": start.isoformat(),
        "end_at": (start + dt.timedelta(hours=2)).isoformat(),
        "anchor_name": "Lily",
        "anchor_wechat": "lily_anchor",
        "cover_image": IMAGE,
        "share_image": IMAGE,
        "feeds_image": IMAGE,
    }
    body.update(overrides)
    return body


def external_payload(**overrides) -> dict:
    return room_payload(
        source="external",
        external_url="https://channels.weixin.qq.com/live/abc",
        cover_image=None,
        share_image=None,
        feeds_image=None,
        **overrides,
    )


def clean(body: dict) -> dict:
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def world(brand_a, fake_wechat):
    return build_world(brand_a, fake_wechat)


@pytest.fixture
def world_b(brand_b, fake_wechat):
    return build_world(brand_b, fake_wechat)


@pytest.fixture
def hq(client_for):
    def make(w):
        return client_for(w.brand).as_staff(
            f"{w.brand.slug}-hq" if w.brand.slug in ("alpha", "beta") else "hq", "hq-password-1"
        )

    return make


@pytest.fixture
def manager(client_for):
    def make(w, username):
        return client_for(w.brand).as_staff(username, PW)

    return make


@pytest.fixture
def member_client(client_for):
    def make(w, member):
        return client_for(w.brand).as_member(w.tokens[member.pk])

    return make

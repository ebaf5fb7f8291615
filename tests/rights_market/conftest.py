"""Fixtures for the rights market: the fake provider on loopback."""

from __future__ import annotations

import pytest

from tests.rights_market.fake_provider import FakeProvider


@pytest.fixture
def fake_provider():
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def provider_row(db, fake_provider):
    from rights_market.models import Provider

    return Provider.objects.create(
        name="Fake video",
        slug="fakevideo",
        base_url=fake_provider.base_url,
        api_key=fake_provider.key,
        timeout_seconds=1.0,
    )

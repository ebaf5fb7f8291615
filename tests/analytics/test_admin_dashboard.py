"""The HQ admin dashboard: figures from the rollups, charts drawn by the vendored Chart.js (no CDN)."""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django_tenants.utils import schema_context

from tests.analytics.test_api import RANGE, seed


def test_hq_dashboard_shows_the_rollups_and_embeds_chart_data(world, world_b, client_for):
    seed(world)
    seed(world_b, scale=7)
    client = client_for(world.brand)
    with schema_context(world.schema):
        client.force_login(get_user_model().objects.get(username="alpha-hq"))
    response = client.get("/admin/analytics/brandday/", {**RANGE, "grain": "day"})
    assert response.status_code == 200
    html = response.content.decode()
    data = json.loads(re.search(r'id="ekr-chart-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert data["labels"] == ["2026-03-10", "2026-03-11", "2026-03-12"]
    assert data["gmv_online"] == [10.0, 0, 0] and data["gmv_pos"] == [56.0, 0, 0]  # brand A only
    assert data["refunds"] == [0, 0, 50.0]
    assert data["join_rate"] == [50.0, None, None]
    assert '<b id="kpi-gmv">66</b>' in html
    assert "A1 One" in html and "A2 Two" in html
    assert "analytics/vendor/chart-4.6.1.umd.min.js" in html and "//cdn" not in html


def test_store_managers_do_not_get_the_hq_dashboard(world, client_for):
    world.m1.is_staff = True
    world.m1.save()
    client = client_for(world.brand)
    client.force_login(world.m1)
    assert client.get("/admin/analytics/brandday/").status_code in (302, 403)


def test_the_chart_library_is_vendored_in_static_files():
    path = finders.find("analytics/vendor/chart-4.6.1.umd.min.js")
    assert path and "Chart.js v4.6.1" in open(path, encoding="utf-8").read(400)
    assert finders.find("analytics/dashboard.js")
    assert "django.contrib.staticfiles" in settings.INSTALLED_APPS

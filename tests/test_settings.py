"""Settings are stated once: the beat schedule in one dict of real tasks, and no module restates a default with
`getattr(settings, "X", default)`."""

from __future__ import annotations

import ast

from celery import current_app
from django.conf import settings
from django.utils.module_loading import autodiscover_modules

from tests.test_layers import LEVEL_OF, ROOT


def test_every_beat_entry_names_a_registered_task():
    autodiscover_modules("tasks")  # as a worker loads them
    named = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        named.append((name, entry["task"]))
        if entry["task"] == "core.fan_out_to_brands":
            named.append((name, entry["kwargs"]["task_name"]))
            assert entry["kwargs"]["window_seconds"] > 0

    assert [(name, task) for name, task in named if task not in current_app.tasks] == []
    assert {task for _, task in named} >= {
        "members.tier_downgrade_due",
        "points.expire_due",
        "callbacks.sweep",
        "miniprograms.cancel_unpaid_orders",
        "rights_market.exchanges_resume_stuck",
    }


def _restated_defaults(source: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "getattr"
        and len(node.args) == 3
        and getattr(node.args[0], "id", None) == "settings"
    ]


def test_no_module_restates_a_setting_default():
    found = []
    for app in LEVEL_OF:
        for path in sorted((ROOT / app).rglob("*.py")) if (ROOT / app).is_dir() else []:
            found += [f"{path.relative_to(ROOT)}:{line}" for line in _restated_defaults(path.read_text())]
    assert found == []


def test_the_check_sees_a_restated_default():
    assert _restated_defaults('x = getattr(settings, "EKR_MARKET_STUCK_SECONDS", 60)\n') == [1]
    assert _restated_defaults("x = settings.EKR_MARKET_STUCK_SECONDS\n") == []

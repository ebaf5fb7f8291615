"""Money from fen, the server-drawn chart, the period's start in Asia/Shanghai, the .po compile fallback."""

from __future__ import annotations

import datetime as dt
import gettext
import shutil
from zoneinfo import ZoneInfo

import pytest

from console.charts import bar_chart
from console.selectors import period_start
from console.templatetags.console import percent, yuan
from ekr import locale_build


@pytest.mark.parametrize(
    ("fen", "shown"),
    [(0, "¥0.00"), (5, "¥0.05"), (12345, "¥123.45"), (123456789, "¥1,234,567.89"), (-250, "-¥2.50"), (None, "—")],
)
def test_yuan_from_integer_fen(fen, shown):
    assert yuan(fen) == shown


def test_percent_is_whole_and_bounded():
    assert (percent(1, 3), percent(3, 3), percent(5, 3), percent(1, 0)) == (33, 100, 100, 0)


def test_bar_chart_scales_to_the_tallest_and_draws_empty_days():
    chart = bar_chart([0, 50, 100], ["a", "b", "c"], ["", "", ""], line=[1, 2, 0])
    heights = [b.height for b in chart.bars]
    assert heights[0] == 1.0 and heights[2] == chart.baseline - 12  # plot height: from the top padding down
    assert heights[1] == pytest.approx(heights[2] / 2, abs=0.1)
    assert len(chart.line_points.split()) == 3


def test_period_starts_at_midnight_in_shanghai():
    # 2026-03-01 17:00 UTC is 03-02 01:00 in Shanghai: "today" is March 2nd there
    now = dt.datetime(2026, 3, 1, 17, 0, tzinfo=dt.UTC)
    assert period_start(1, now=now) == dt.datetime(2026, 3, 2, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert period_start(7, now=now) == dt.datetime(2026, 2, 24, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_po_files_compile_without_msgfmt(tmp_path, monkeypatch):
    # given a machine without gettext's tools
    source = locale_build.LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
    target = tmp_path / "zh_Hans" / "LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(source, target / "django.po")
    monkeypatch.setattr(locale_build, "LOCALE", tmp_path)
    monkeypatch.setattr(locale_build.shutil, "which", lambda name: None)
    # when set-up compiles the catalogue
    assert locale_build.compile_all(quiet=True) == 1
    # then the pure-Python .mo translates, and a second run has nothing to do
    with open(target / "django.mo", "rb") as mo:
        catalogue = gettext.GNUTranslations(mo)
    assert catalogue.gettext("Dashboard") == "概览"
    assert (
        catalogue.ngettext(
            "This account is locked for %(hours)s hour. Try again later or ask HQ.",
            "This account is locked for %(hours)s hours. Try again later or ask HQ.",
            2,
        )
        == "该账号已锁定 %(hours)s 小时。请稍后再试或联系总部。"
    )
    assert locale_build.compile_all(quiet=True) == 0

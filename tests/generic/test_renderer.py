"""core.renderers.FastJSONRenderer writes what DRF's JSONRenderer writes, byte for byte, for everything our
responses carry (orjson for the natives, DRF's own encoder for the rest)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections import OrderedDict

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from core.renderers import FastJSONRenderer

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def test_same_bytes_as_drf_for_what_responses_carry():
    data = {
        "int": 1,
        "big": 2**62,
        "negative": -3,
        "float": 1.5,
        "exp": 1e20,
        "none": None,
        "bools": [True, False],
        "chinese": "会员积分",
        "line separators": "a\u2028b\u2029c",
        "quotes and controls": 'say "hi"\n\t\x01',
        3: "an int key",
        "aware utc": dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        "aware shanghai": timezone.now().astimezone(SHANGHAI),
        "naive": dt.datetime(2026, 1, 2, 3, 4, 5),
        "date": dt.date(2026, 2, 3),
        "time": dt.time(4, 5, 6),
        "timedelta": dt.timedelta(seconds=90),
        "decimal": decimal.Decimal("1.50"),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "lazy": _("Not found."),
        "tuple": (1, 2),
        "ordered": OrderedDict(b=1, a=2),
        "drf": ReturnDict({"k": ReturnList([1, "x"], serializer=None)}, serializer=None),
        "bytes": b"xy",
        "nested": [{"a": [{"b": dt.date(2026, 1, 1)}]}],
    }

    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)
    assert FastJSONRenderer().render(None) == JSONRenderer().render(None) == b""


def test_an_indent_asked_for_is_honoured():
    data = {"a": [1, 2]}
    media = "application/json; indent=2"

    assert FastJSONRenderer().render(data, media, {}) == JSONRenderer().render(data, media, {}) != b'{"a":[1,2]}'

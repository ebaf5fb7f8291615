"""Every DRF IntegerField refuses a number PostgreSQL cannot store (bigint) unless it sets tighter bounds itself.

The fuzzer (tests/generic/test_fuzz_api.py) sent 752776635230871355392 as an id in a list; psycopg2 raised
TypeError ("Integer exceeds 64-bit range") deep in a service: a 500 for a client's mistake. Rather than ask every
`IntegerField(min_value=1)` of every input serializer to repeat the upper bound (and rely on the next one to
remember), the bound is DRF's default here, set once at start-up (core.apps). Output fields never validate, so
only input changes: a 400 naming the field, in the error shape.
"""

from __future__ import annotations

from rest_framework import fields

BIGINT_MAX = 2**63 - 1
BIGINT_MIN = -(2**63)

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    original_init = fields.IntegerField.__init__

    def __init__(self, **kwargs):
        kwargs.setdefault("max_value", BIGINT_MAX)
        kwargs.setdefault("min_value", BIGINT_MIN)
        original_init(self, **kwargs)

    fields.IntegerField.__init__ = __init__
    _installed = True

"""What a credit or debit writes (points migration 0006): the indexes it maintains, HOT lot updates, no writes on a
replay, and the undo when a concurrent call takes the idempotency key after the function's probe."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from core.errors import Conflict
from points.models import PointsAccount, PointsEntry
from points.services import points_earn, points_redeem
from tests.helpers import call_blocked_on_our_lock
from tests.points.ledger_checks import ledger_invariants_assert


def _indexes(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT regexp_replace(pg_get_indexdef(indexrelid), ' ON \\S+', ' ON') FROM pg_index "
            "WHERE indrelid = %s::regclass",
            [table],
        )
        return {row[0] for row in cursor.fetchall()}


def test_each_index_on_entries_and_lots_is_one_a_query_needs(alpha):
    assert _indexes("points_pointsentry") == {
        "CREATE UNIQUE INDEX points_pointsentry_pkey ON USING btree (id)",
        "CREATE UNIQUE INDEX points_entry_idempotency_key ON USING btree (idempotency_key)",
        "CREATE INDEX points_entry_member_id ON USING btree (member_id, id DESC)",
        "CREATE INDEX points_entry_reference ON USING btree (reference) WHERE (NOT ((reference)::text = ''::text))",
        "CREATE INDEX points_entry_created_brin ON USING brin (created_at) "
        "WITH (autosummarize='on', pages_per_range='32')",
    }
    assert _indexes("points_pointslot") == {
        "CREATE UNIQUE INDEX points_pointslot_pkey ON USING btree (id)",
        "CREATE UNIQUE INDEX points_pointslot_entry_id_key ON USING btree (entry_id)",
        "CREATE INDEX points_lot_open ON USING btree (account_id, expires_at, id) WHERE is_open",
        "CREATE INDEX points_lot_due ON USING btree (expires_at) WHERE is_open",
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = 'points_pointslot'::regclass")
        assert cursor.fetchone()[0] == ["fillfactor=80"]


def _writes(table: str) -> tuple[int, int, int, int]:
    """(inserted, updated, HOT-updated, deleted) rows of `table` so far in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_xact_user_tables WHERE relid = %s::regclass",
            [table],
        )
        return cursor.fetchone()


def _delta(before, after):
    return tuple(b - a for a, b in zip(before, after, strict=True))


def test_a_debit_leaving_points_in_the_lot_is_a_hot_update_and_the_emptying_one_is_not(member):
    points_earn(member=member, points=100, idempotency_key="hot-e", reason="order")

    before = _writes("points_pointslot")
    points_redeem(member=member, points=1, idempotency_key="hot-r1", reason="coupon")
    partial = _delta(before, _writes("points_pointslot"))
    points_redeem(member=member, points=99, idempotency_key="hot-r2", reason="coupon")
    emptying = _delta(before, _writes("points_pointslot"))

    assert partial == (0, 1, 1, 0)  # one update, HOT: no index entry written
    assert emptying == (0, 2, 1, 0)  # is_open turns false: the lot leaves the partial indexes
    assert ledger_invariants_assert(member) == 0


def test_a_replay_writes_nothing(member):
    points_earn(member=member, points=30, idempotency_key="rp-e", reason="order")
    points_redeem(member=member, points=5, idempotency_key="rp-r", reason="coupon")
    tables = ("points_pointsaccount", "points_pointsentry", "points_pointslot", "points_pointslotuse")
    before = [_writes(table) for table in tables]

    again_earn = points_earn(member=member, points=30, idempotency_key="rp-e", reason="order")
    again_redeem = points_redeem(member=member, points=5, idempotency_key="rp-r", reason="coupon")

    assert (again_earn.replayed, again_redeem.replayed) == (True, True)
    assert [_delta(b, _writes(t)) for b, t in zip(before, tables, strict=True)] == [(0, 0, 0, 0)] * 4
    assert ledger_invariants_assert(member) == 25


# --- a concurrent call takes the key after the probe ------------------------------------------------------------


@pytest.fixture
def race_brand(new_brand):
    from members.models import Member

    brand = new_brand("lw")
    with schema_context(brand.schema_name):
        member = Member.objects.create(openid="o-lw")
        other = Member.objects.create(openid="o-lw-2")
        points_earn(member=member, points=50, idempotency_key="seed", reason="seed")
    return brand, member, other


def test_an_earn_racing_the_same_key_past_the_probe_gives_its_points_back(race_brand):
    brand, member, _ = race_brand
    with schema_context(brand.schema_name):
        with transaction.atomic():
            first = points_earn(member=member, points=10, idempotency_key="k", reason="order")
            thread, out = call_blocked_on_our_lock(
                brand.schema_name, lambda: points_earn(member=member, points=10, idempotency_key="k", reason="order")
            )
        thread.join(30)

        assert (out["result"].pk, out["result"].replayed) == (first.pk, True)
        assert PointsEntry.objects.filter(idempotency_key="k").count() == 1
        assert ledger_invariants_assert(member) == 60


def test_a_redemption_racing_the_same_key_past_the_probe_gives_its_points_back(race_brand):
    brand, member, _ = race_brand
    with schema_context(brand.schema_name):
        with transaction.atomic():
            first = points_redeem(member=member, points=7, idempotency_key="k", reason="coupon")
            thread, out = call_blocked_on_our_lock(
                brand.schema_name, lambda: points_redeem(member=member, points=7, idempotency_key="k", reason="coupon")
            )
        thread.join(30)

        assert (out["result"].pk, out["result"].replayed) == (first.pk, True)
        assert ledger_invariants_assert(member) == 43


def test_a_first_earn_losing_the_key_to_another_member_leaves_no_account(race_brand):
    brand, member, other = race_brand
    with schema_context(brand.schema_name):
        with transaction.atomic():
            points_earn(member=member, points=10, idempotency_key="k", reason="order")
            thread, out = call_blocked_on_our_lock(
                brand.schema_name, lambda: points_earn(member=other, points=10, idempotency_key="k", reason="order")
            )
        thread.join(30)

        assert isinstance(out["result"], Conflict)  # the key was taken for other parameters: 409
        assert not PointsAccount.objects.filter(member=other).exists()
        assert ledger_invariants_assert(member) == 60


# --- the wrapper's quick check of an entry's fields -------------------------------------------------------------

FIELD_VALUES = {
    "kind": ["earn", PointsEntry.Kind.REDEEM, "", "bogus", "earn\x00", None, 1],
    "idempotency_key": ["k", "k" * 128, "k" * 129, "", "k\x00", None, 5, b"k"],
    "reference": ["", "o-1", "o" * 64, "o" * 65, "o\x00", None],
    "reason": ["", "退款", "r" * 200, "r" * 201, "\x00", None, ["r"]],
    "amount": [0, 1, -5, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 1.5, "3", None, True],
}


@pytest.mark.parametrize("name", FIELD_VALUES)
def test_the_quick_field_check_never_passes_what_field_clean_refuses(name):
    from django.core.exceptions import ValidationError

    from points.services.ledger import _ENTRY_FIELDS, _entry_validate, _fits

    field = _ENTRY_FIELDS[name]
    passed = []
    for value in FIELD_VALUES[name]:
        try:
            field.clean(value, None)
            clean_ok = True
        except ValidationError:
            clean_ok = False
        if _fits(field, value):
            assert clean_ok, (name, value)
            passed.append(value)
        else:  # the slow path decides, as before
            raised = False
            try:
                _entry_validate(**{name: value})
            except ValidationError:
                raised = True
            assert raised is not clean_ok, (name, value)
    assert passed  # the common values do take the quick path


def test_the_entry_a_function_wrote_is_the_row_in_the_database(member):
    from django.forms.models import model_to_dict

    from points.services.ledger import _ENTRY_ATTNAMES

    assert tuple(f.attname for f in PointsEntry._meta.concrete_fields) == _ENTRY_ATTNAMES
    earned = points_earn(member=member, points=12, idempotency_key="row-e", reason="order", reference="o-9")
    spent = points_redeem(member=member, points=5, idempotency_key="row-r", reason="coupon")

    for entry in (earned, spent):
        stored = PointsEntry.objects.get(pk=entry.pk)
        assert model_to_dict(entry) == model_to_dict(stored)
        assert entry.created_at == stored.created_at


def test_the_entry_is_built_by_model_init_when_something_listens_to_its_signals(member):
    from django.db.models.signals import post_init

    from points.models import PointsEntry

    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance.idempotency_key)

    post_init.connect(listener, sender=PointsEntry)
    try:
        entry = points_earn(member=member, points=3, idempotency_key="sig-e", reason="order")
    finally:
        post_init.disconnect(listener, sender=PointsEntry)

    assert seen == ["sig-e"]  # the receiver saw the entry the earn returned, fully built
    assert (entry.pk, entry.amount, entry._state.adding) == (
        PointsEntry.objects.get(idempotency_key="sig-e").pk,
        3,
        True,
    )


def test_the_quickly_built_entry_is_what_model_init_builds(member):
    from points.services.ledger import _ENTRY_ATTNAMES

    entry = points_earn(member=member, points=4, idempotency_key="built-e", reason="order", reference="o-1")
    by_init = PointsEntry(*[getattr(entry, name) for name in _ENTRY_ATTNAMES])

    def fields(e):
        return {k: v for k, v in vars(e).items() if k not in ("_state", "replayed")}

    assert fields(entry) == fields(by_init)
    assert (entry._state.adding, entry._state.db) == (by_init._state.adding, by_init._state.db)


def test_the_fingerprint_is_the_canonical_json_it_always_was():
    import hashlib
    import json
    from datetime import UTC, datetime

    from points.services.ledger import request_fingerprint

    cases = [
        ("earn", {"member": 1, "points": 10, "reference": "o-1", "reason": '退款 "x"\n', "expires_at": None}),
        (
            "earn",
            {
                "member": 2,
                "points": 5,
                "reference": "",
                "reason": "r",
                "expires_at": datetime(2026, 1, 2, tzinfo=UTC),
            },
        ),
        ("expire", {"account": 3, "lots": [3, 1, 2]}),
        ("earn_order", {"member": 4, "order_id": "A1", "nested": {"b": 1, "a": [None, True, 1.5]}}),
    ]
    for operation, params in cases:
        canonical = json.dumps({"op": operation, **params}, sort_keys=True, default=str, separators=(",", ":"))
        assert request_fingerprint(operation, **params) == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_hot_fingerprints_are_the_encoders_text():
    from datetime import UTC, datetime

    from points.services.ledger import _earn_fingerprint, _redeem_fingerprint, request_fingerprint

    class Id(int):  # an int subclass (its repr may differ): left to the encoder
        def __repr__(self):
            return "Id(7)"

    texts = ["", "o-1", '退款 "x"\n\t\\ /', "\x00\x1f\u2028 \U0001f600", "a" * 128]
    calls = [(1, 10, None), (2**40, 100_000_000, None), (Id(7), 5, None), (3, 4, datetime(2026, 1, 2, tzinfo=UTC))]
    for member_id, points, expires_at in calls:
        for reference in texts:
            for reason in texts[:3]:
                assert _earn_fingerprint(member_id, points, reference, reason, expires_at) == request_fingerprint(
                    "earn", member=member_id, points=points, reference=reference, reason=reason, expires_at=expires_at
                )
                assert _redeem_fingerprint(member_id, points, reference, reason) == request_fingerprint(
                    "redeem", member=member_id, points=points, reference=reference, reason=reason
                )

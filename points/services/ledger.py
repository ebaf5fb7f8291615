"""The points ledger: every change of a balance. See points/services/__init__.py for the interface.

How correctness comes from the database, not from Python:
- A balance changes only by one statement that also takes the account's row lock: an upsert for credits,
  `UPDATE ... SET balance = balance - p WHERE ... AND balance >= p` for debits. A debit that would go negative
  matches no row; the CHECK (balance >= 0) is the last line of defence.
- Everything else (entry, lots, lot uses) is written after that lock is held, by statements that see what
  committed before it was granted. Lots are only ever touched by a transaction holding their account's lock,
  so the lock order is always account, then its lots; transactions touching several accounts (expiry) take
  them one at a time, each in its own transaction.
- Earning and redeeming, the hot path, are one call each of a SQL function (points_credit, points_debit:
  migrations 0004 and 0005) doing all of the above: one round trip, atomic without a transaction of ours.
- The idempotency key is a UNIQUE column: when the key is taken, the function's writes are undone and the
  first entry for the key is returned (or 409 if it was written for other parameters).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.db_backend.base import Prepared
from core.errors import ApplicationError, Conflict
from points.models import PointsAccount, PointsEntry, PointsLot, PointsLotReturn, PointsLotUse

logger = logging.getLogger(__name__)

ACCOUNT = PointsAccount._meta.db_table

MAX_POINTS_PER_ENTRY = 100_000_000
Kind = PointsEntry.Kind


class InsufficientPoints(ApplicationError):
    code = "insufficient_points"
    status_code = 409


class _KeyTaken(Exception):
    """The idempotency key already exists: the ledger function undid its own writes, and the first entry for the
    key is the answer."""


# --- building blocks -----------------------------------------------------------------------------------------


# What json.dumps(x, sort_keys=True, default=str, separators=(",", ":")) builds anew on every call (any non-default
# option makes it construct an encoder): built once, the same class with the same options, so the same text.
_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def request_fingerprint(operation: str, **params: Any) -> str:
    """A stable hash of what was asked, so that a key reused for other parameters is told apart (409)."""
    canonical = _FINGERPRINT_JSON.encode({"op": operation, **params})
    return hashlib.sha256(canonical.encode()).hexdigest()


# The same text as request_fingerprint's for the two hot calls, written directly: keys in sorted order, a str as the
# encoder writes it (ASCII, escaped), an int as its repr. Only for exactly these types; anything else (a datetime
# expiry, an int subclass) goes through the encoder (tests/points/test_ledger_writes.py holds them equal).
_json_str = json.encoder.encode_basestring_ascii


def _earn_fingerprint(member_id: Any, points: Any, reference: Any, reason: Any, expires_at: Any) -> str:
    if expires_at is None and type(member_id) is int and type(points) is int and type(reference) is type(reason) is str:
        canonical = (
            f'{{"expires_at":null,"member":{member_id!r},"op":"earn","points":{points!r},'
            f'"reason":{_json_str(reason)},"reference":{_json_str(reference)}}}'
        )
        return hashlib.sha256(canonical.encode()).hexdigest()
    return request_fingerprint(
        "earn", member=member_id, points=points, reference=reference, reason=reason, expires_at=expires_at
    )


def _redeem_fingerprint(member_id: Any, points: Any, reference: Any, reason: Any) -> str:
    if type(member_id) is int and type(points) is int and type(reference) is type(reason) is str:
        canonical = (
            f'{{"member":{member_id!r},"op":"redeem","points":{points!r},'
            f'"reason":{_json_str(reason)},"reference":{_json_str(reference)}}}'
        )
        return hashlib.sha256(canonical.encode()).hexdigest()
    return request_fingerprint("redeem", member=member_id, points=points, reference=reference, reason=reason)


_ENTRY_FIELDS = {field.name: field for field in PointsEntry._meta.fields}


def _fits(field: models.Field, value: Any) -> bool:
    """The common case of Field.clean, without its validator objects: for text, a str within max_length, present
    unless blank is allowed, one of the choices if there are some; for an integer, an int a bigint holds. False
    means "ask Field.clean", not necessarily invalid (tests/points/test_ledger_writes.py holds them to agree)."""
    if isinstance(field, models.CharField):
        if not isinstance(value, str) or len(value) > field.max_length:
            return False
        if not value:
            return field.blank
        return not field.choices or value in _CHOICES[field.name]
    return isinstance(field, models.BigIntegerField) and type(value) is int and -(2**63) <= value < 2**63


_CHOICES = {name: {value for value, _ in field.choices} for name, field in _ENTRY_FIELDS.items() if field.choices}


def _entry_validate(**fields: Any) -> None:
    """Each given field of the entry to be written, cleaned as full_clean would (lengths, choices, required);
    raises ValidationError. Only these fields: the rest are the ledger's own. Values that plainly fit (every call
    on the hot path) pass _fits; anything else goes through Field.clean, which raises the usual errors."""
    if all(_fits(_ENTRY_FIELDS[name], value) for name, value in fields.items()):
        return
    errors = {}
    for name, value in fields.items():
        try:
            _ENTRY_FIELDS[name].clean(value, None)
        except ValidationError as exc:
            errors[name] = exc.error_list
    if errors:
        raise ValidationError(errors)


def _points_check(points: int) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= MAX_POINTS_PER_ENTRY:
        raise ApplicationError(
            _("Points must be a positive whole number."),
            code="invalid_points",
            fields={"points": [f"a whole number from 1 to {MAX_POINTS_PER_ENTRY}"]},
        )


def _replay(idempotency_key: str, fingerprint: str) -> PointsEntry | None:
    """The entry already written for this key, or None. Raises Conflict if it was written for other params."""
    entry = PointsEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is None:
        return None
    if entry.fingerprint != fingerprint:
        raise Conflict(
            _("This idempotency key was already used for a different request."),
            code="idempotency_key_reused",
            fields={"idempotency_key": ["already used"]},
        )
    entry.replayed = True
    return entry


def _idempotent(idempotency_key: str, fingerprint: str, write: Callable[[], PointsEntry]) -> PointsEntry:
    """Run `write` (one atomic statement: a ledger function); on a taken key return the first entry."""
    try:
        entry = write()
    except _KeyTaken as exc:
        entry = _replay(idempotency_key, fingerprint)
        if entry is None:  # pragma: no cover - the key's owner rolled back between our conflict and our read
            raise Conflict(_("A request with this idempotency key is in progress; retry."), code="retry") from exc
        return entry
    entry.replayed = False
    return entry


def _members_services():
    """members.services, imported on first use (not at import time: members' modules load after ours)."""
    global _MEMBERS_SERVICES
    if _MEMBERS_SERVICES is None:
        from members import services

        _MEMBERS_SERVICES = services
    return _MEMBERS_SERVICES


_MEMBERS_SERVICES = None


def _card_sync_on_commit(member, *, tier_check_due: bool = False) -> None:
    """After commit: queue the WeChat member card update (coalesced), and the tier check an earning claimed in
    points_credit (`tier_check_due`: its account row carried no tier mark, see tier_check_mark_clear)."""
    members = _members_services()
    try:
        members.member_card_sync_request(member=member)
        if tier_check_due:
            members.member_tier_checks_queue()
    except Exception:  # the points are committed; a failed card refresh must not turn this into a 500
        logger.exception("card update or tier check request failed for member %s", member.pk)


_TIER_MARK_CLEAR = (
    f"UPDATE {ACCOUNT} SET tier_check_asked_at = NULL WHERE member_id = %s AND tier_check_asked_at IS NOT NULL"
)


def tier_check_mark_clear(*, member_id: int) -> None:
    """The tier check's first step (members.hooks): clear the mark an earn set in points_credit (migration 0007).

    An earn in flight that found the mark set holds the account's row lock; this UPDATE waits for it to commit,
    so the figures the check reads next include it. An earn after this finds no mark and queues a check of its
    own. Outside a transaction of the caller's, the clear commits at once (the worker runs the check so)."""
    with connection.cursor() as cursor:
        cursor.execute(_TIER_MARK_CLEAR, [member_id])


_TIER_MARKED = (
    f"SELECT member_id FROM {ACCOUNT} WHERE tier_check_asked_at IS NOT NULL ORDER BY tier_check_asked_at LIMIT %s"
)
_TIER_MARK_RESTORE = (
    f"UPDATE {ACCOUNT} SET tier_check_asked_at = now() WHERE member_id = %s AND tier_check_asked_at IS NULL"
)


def tier_check_marked(*, limit: int) -> list[int]:
    """Members whose account carries a tier mark, oldest first (the sweep's read; a partial index, points 0009)."""
    with connection.cursor() as cursor:
        cursor.execute(_TIER_MARKED, [limit])
        return [row[0] for row in cursor.fetchall()]


def tier_check_mark_restore(*, member_id: int) -> None:
    """Mark the member again: their check failed after clearing the mark (the next sweep retries it)."""
    with connection.cursor() as cursor:
        cursor.execute(_TIER_MARK_RESTORE, [member_id])


def points_balance_changed(*, member) -> None:
    """For a caller that ran a ledger function (public.points_debit) inside a SQL function of its own (the rights
    market's public.market_redeem): what a debit through this module does after its write, the member's card
    update queued after commit."""
    _card_sync_on_commit(member)


# The credit and the debit are SQL functions (points migrations 0004-0006): one statement, one round trip, atomic on
# its own, so outside a transaction they need no BEGIN/COMMIT and inside one no savepoint (a taken key writes
# nothing, or has its writes undone by the function, and returns no entry).
# Prepared once a database session (core.db_backend's Prepared): the call's parse, function look-up and plan were
# an eighth of a redemption's CPU in PostgreSQL (perf, bench/points.py).
_CREDIT = Prepared(
    "SELECT entry_id, account_id, balance, tier_check_due "
    "FROM points_credit(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
    types=(
        "bigint",
        "varchar",
        "bigint",
        "varchar",
        "varchar",
        "varchar",
        "varchar",
        "integer",
        "timestamptz",
        "timestamptz",
        "boolean",
        "integer",
    ),
)
_DEBIT = Prepared(
    "SELECT status, entry_id, account_id, balance FROM points_debit(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
    types=("bigint", "varchar", "bigint", "varchar", "varchar", "varchar", "varchar", "integer", "timestamptz"),
)
_LOTS_SHORT = "EKRL1"  # SQLSTATE raised by points_debit when the lots do not cover the balance

BY_POLICY = "by-policy"  # expires_at: from the brand's expiry policy (None means never)

# The entry a ledger function wrote, built from the values we sent and it returned (no read back), positionally:
# Model(*args) skips the keyword matching of Model(**kwargs), a fifth of the wrapper's own time. The order is the
# model's (tests/points/test_ledger_writes.py checks it).
_new_model = object.__new__
_ENTRY_ATTNAMES = (
    "id",
    "account_id",
    "member_id",
    "kind",
    "amount",
    "balance_after",
    "idempotency_key",
    "fingerprint",
    "reference",
    "reason",
    "actor_id",
    "shortfall",
    "created_at",
)


def _entry_built(values: tuple) -> PointsEntry:
    """PointsEntry(*values) as Model.__init__ builds it (a fresh ModelState, each attname set), without its
    per-field setattr through the field descriptors and its two signals: a tenth of the wrapper's own time. On a new
    instance nothing is cached, so setting an attname directly is what the descriptors do; when something listens
    to PointsEntry's pre_init or post_init, Model.__init__ builds it as before."""
    if pre_init.has_listeners(PointsEntry) or post_init.has_listeners(PointsEntry):
        return PointsEntry(*values)
    entry = _new_model(PointsEntry)
    entry._state = ModelState()
    entry.__dict__.update(zip(_ENTRY_ATTNAMES, values, strict=True))
    return entry


def _credit(
    *,
    member,
    kind: str,
    points: int,
    key: str,
    fp: str,
    reference: str,
    reason: str,
    expires_at: datetime | str | None,
    actor_id: int | None,
) -> PointsEntry:
    now = timezone.now()
    by_policy = expires_at == BY_POLICY
    entry_id, account_id, balance, tier_check_due = connection.execute_fetchone(
        _CREDIT,
        [
            member.pk,
            kind,
            points,
            key,
            fp,
            reference,
            reason,
            actor_id,
            now,
            None if by_policy else expires_at,
            by_policy,
            _tier_mark_ttl() if kind == Kind.EARN else None,  # earnings count toward tiers
        ],
    )
    if entry_id is None:
        raise _KeyTaken
    _card_sync_on_commit(member, tier_check_due=tier_check_due)
    return _entry_built(
        (entry_id, account_id, member.pk, kind, points, balance, key, fp, reference, reason, actor_id, 0, now)
    )


def _tier_mark_ttl() -> int:
    return _members_services().tier_check_mark_ttl_seconds()


def _debit(
    *, member, kind: str, points: int, key: str, fp: str, reference: str, reason: str, actor_id: int | None
) -> PointsEntry:
    now = timezone.now()
    try:
        status, entry_id, account_id, balance = connection.execute_fetchone(
            _DEBIT, [member.pk, kind, points, key, fp, reference, reason, actor_id, now]
        )
    except DatabaseError as exc:
        if getattr(exc.__cause__, "pgcode", None) != _LOTS_SHORT:
            raise
        raise ApplicationError(
            _("Points lots do not cover the balance."), code="ledger_mismatch", status_code=500
        ) from exc
    if status == "insufficient":
        raise InsufficientPoints(_("Not enough points."), fields={"points": ["more than the balance"]})
    if status == "key_taken":
        raise _KeyTaken
    _card_sync_on_commit(member)
    return _entry_built(
        (entry_id, account_id, member.pk, kind, -points, balance, key, fp, reference, reason, actor_id, 0, now)
    )


def _debit_or_replay(*, key: str, fp: str, debit: Callable[[], PointsEntry]) -> PointsEntry:
    try:
        return _idempotent(key, fp, debit)
    except InsufficientPoints:
        entry = _replay(key, fp)  # a retry of a debit that succeeded before the balance went down
        if entry is None:
            raise
        return entry


# --- the interface -------------------------------------------------------------------------------------------


def points_earn(
    *, member, points: int, idempotency_key: str, reason: str, reference: str = "", expires_at: datetime | None = None
) -> PointsEntry:
    """Credit `points` (> 0) as a new lot expiring at `expires_at` (None: the brand's expiry policy from now).

    The same key again returns the first entry and changes nothing (entry.replayed is True); the same key for
    other parameters raises Conflict (409).
    """
    fp = _earn_fingerprint(member.pk, points, reference, reason, expires_at)
    return _earn(
        member=member,
        points=points,
        idempotency_key=idempotency_key,
        fingerprint=fp,
        reason=reason,
        reference=reference,
        expires_at=expires_at or BY_POLICY,
    )


def _earn(
    *,
    member,
    points: int,
    idempotency_key: str,
    fingerprint: str,
    reason: str,
    reference: str,
    expires_at: datetime | str | None,
) -> PointsEntry:
    _points_check(points)
    _entry_validate(kind=Kind.EARN, amount=points, idempotency_key=idempotency_key, reference=reference, reason=reason)
    return _idempotent(
        idempotency_key,
        fingerprint,
        lambda: _credit(
            member=member,
            kind=Kind.EARN,
            points=points,
            key=idempotency_key,
            fp=fingerprint,
            reference=reference,
            reason=reason,
            expires_at=expires_at,
            actor_id=None,
        ),
    )


def points_redeem(*, member, points: int, idempotency_key: str, reason: str, reference: str = "") -> PointsEntry:
    """Debit `points` (> 0), oldest-expiring lots first. Raises InsufficientPoints (409) if the balance is short;
    nothing is recorded then, so the same key may be tried again later."""
    _points_check(points)
    _entry_validate(
        kind=Kind.REDEEM, amount=-points, idempotency_key=idempotency_key, reference=reference, reason=reason
    )
    fp = _redeem_fingerprint(member.pk, points, reference, reason)
    return _debit_or_replay(
        key=idempotency_key,
        fp=fp,
        debit=lambda: _debit(
            member=member,
            kind=Kind.REDEEM,
            points=points,
            key=idempotency_key,
            fp=fp,
            reference=reference,
            reason=reason,
            actor_id=None,
        ),
    )


def points_adjust(
    *, member, points: int, idempotency_key: str, actor, reason: str, expires_at: datetime | None = None
) -> PointsEntry:
    """A staff correction: `points` > 0 credits a lot (expiring by the brand policy unless `expires_at`),
    `points` < 0 debits like a redemption (never below zero). `actor` (the staff user) and `reason` are kept
    on the entry, with its time, as the audit record."""
    if not isinstance(points, int) or points == 0:
        raise ApplicationError(
            _("An adjustment is a non-zero whole number of points."),
            code="invalid_points",
            fields={"points": ["non-zero whole number"]},
        )
    _points_check(abs(points))
    if not reason or not reason.strip():
        raise ApplicationError(
            _("An adjustment needs a reason."), code="reason_required", fields={"reason": ["required"]}
        )
    if actor is None or not actor.pk:
        raise ApplicationError(_("An adjustment needs the staff user who made it."), code="actor_required")
    _entry_validate(kind=Kind.ADJUST, amount=points, idempotency_key=idempotency_key, reason=reason)
    fp = request_fingerprint(
        "adjust", member=member.pk, points=points, actor=actor.pk, reason=reason, expires_at=expires_at
    )
    if points > 0:
        lot_expires_at = expires_at or BY_POLICY
        return _idempotent(
            idempotency_key,
            fp,
            lambda: _credit(
                member=member,
                kind=Kind.ADJUST,
                points=points,
                key=idempotency_key,
                fp=fp,
                reference="",
                reason=reason,
                expires_at=lot_expires_at,
                actor_id=actor.pk,
            ),
        )
    return _debit_or_replay(
        key=idempotency_key,
        fp=fp,
        debit=lambda: _debit(
            member=member,
            kind=Kind.ADJUST,
            points=-points,
            key=idempotency_key,
            fp=fp,
            reference="",
            reason=reason,
            actor_id=actor.pk,
        ),
    )


def _account_lock(member_id: int) -> PointsAccount | None:
    return PointsAccount.objects.select_for_update().filter(member_id=member_id).first()


def _entry_append(entry: PointsEntry) -> PointsEntry:
    entry.full_clean(validate_unique=False, validate_constraints=False)
    entry.save(force_insert=True)
    return entry


def _balance_debit(*, account: PointsAccount, points: int, now: datetime) -> int:
    """Debit an account whose row lock we hold; returns the new balance."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ACCOUNT} SET balance = balance - %s, updated_at = %s "
            f"WHERE id = %s AND balance >= %s RETURNING balance",
            [points, now, account.pk, points],
        )
        row = cursor.fetchone()
    if row is None:  # pragma: no cover - lots are part of the balance, so this cannot happen
        raise ApplicationError(_("Points lots do not cover the balance."), code="ledger_mismatch", status_code=500)
    return row[0]


def points_reverse_for_reference(
    *, member, reference: str, idempotency_key: str, reason: str, points: int | None = None
) -> PointsEntry | None:
    """Take back what `reference` (an order) earned, e.g. on a refund: all that is not yet reversed, or at most
    `points` for a partial refund.

    Points of the order's lots that are already spent (or expired) are not taken from other lots and the
    balance never goes negative: the entry records them as `shortfall`. Returns None when nothing is left to
    reverse (the order earned nothing, or all of it was reversed before).
    """
    if points is not None:
        _points_check(points)
    if not reference:
        raise ApplicationError(
            _("A reversal needs the reference (order) to reverse."),
            code="reference_required",
            fields={"reference": ["required"]},
        )
    _entry_validate(kind=Kind.REVERSE, amount=0, idempotency_key=idempotency_key, reference=reference, reason=reason)
    fp = request_fingerprint("reverse", member=member.pk, reference=reference, points=points, reason=reason)

    def write() -> PointsEntry | None:
        account = _account_lock(member.pk)
        if account is None:
            return None
        replayed = _replay(idempotency_key, fp)
        if replayed is not None:
            return replayed
        lots = list(
            PointsLot.objects.select_for_update()
            .filter(account=account, entry__kind=Kind.EARN, entry__reference=reference)
            .order_by("id")
        )
        earned = sum(lot.amount for lot in lots)
        before = PointsEntry.objects.filter(account=account, kind=Kind.REVERSE, reference=reference).values_list(
            "amount", "shortfall"
        )
        already = sum(-amount + shortfall for amount, shortfall in before)
        target = earned - already if points is None else min(points, earned - already)
        if target <= 0:
            return None
        now = timezone.now()
        taken = _lots_take(lots, target)
        reclaimed = sum(n for _, n in taken)
        balance = _balance_debit(account=account, points=reclaimed, now=now) if reclaimed else account.balance
        entry = _entry_append(
            PointsEntry(
                account=account,
                member_id=member.pk,
                kind=Kind.REVERSE,
                amount=-reclaimed,
                balance_after=balance,
                idempotency_key=idempotency_key,
                fingerprint=fp,
                reference=reference,
                reason=reason,
                shortfall=target - reclaimed,
                created_at=now,
            )
        )
        _lot_uses_write(entry, taken)
        _card_sync_on_commit(member)
        return entry

    try:
        with transaction.atomic():
            entry = write()
    except IntegrityError as exc:
        if "idempotency_key" not in str(exc):
            raise
        return _replay(idempotency_key, fp)
    if entry is not None and not hasattr(entry, "replayed"):
        entry.replayed = False
    return entry


def points_restore_to_lots(*, member, debit_key: str, idempotency_key: str, reason: str) -> PointsEntry | None:
    """Give a debit (a redemption or negative adjustment, named by its idempotency key) back to the lots it
    took from, each keeping its original expiry: an undo, not a fresh credit.

    Points whose lot has expired by now are not given back (they would have expired had the debit never
    happened); the entry counts them as `shortfall`. A debit is given back once: lot uses already returned
    (under any key) are skipped, and the same key again returns the first entry. Returns None when there is
    nothing to give back (no such debit, or all of it returned before).
    """
    if not debit_key:
        raise ApplicationError(
            _("Name the debit to give back."), code="reference_required", fields={"debit_key": ["required"]}
        )
    _entry_validate(kind=Kind.RESTORE, amount=0, idempotency_key=idempotency_key, reason=reason)
    fp = request_fingerprint("restore", member=member.pk, debit_key=debit_key, reason=reason)

    def write() -> PointsEntry | None:
        account = _account_lock(member.pk)
        if account is None:
            return None
        replayed = _replay(idempotency_key, fp)
        if replayed is not None:
            return replayed
        debit = PointsEntry.objects.filter(
            account=account, idempotency_key=debit_key, amount__lt=0, kind__in=[Kind.REDEEM, Kind.ADJUST]
        ).first()
        if debit is None:
            return None
        uses = list(PointsLotUse.objects.filter(entry=debit, returned__isnull=True).order_by("lot_id", "id"))
        if not uses:
            return None
        now = timezone.now()
        lots = {
            lot.pk: lot
            for lot in PointsLot.objects.select_for_update().filter(pk__in=[use.lot_id for use in uses]).order_by("id")
        }
        back = [use for use in uses if lots[use.lot_id].expires_at is None or lots[use.lot_id].expires_at > now]
        restored = sum(use.amount for use in back)
        for use in back:
            PointsLot.objects.filter(pk=use.lot_id).update(remaining=models.F("remaining") + use.amount)
        balance = account.balance
        if restored:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {ACCOUNT} SET balance = balance + %s, updated_at = %s WHERE id = %s RETURNING balance",
                    [restored, now, account.pk],
                )
                balance = cursor.fetchone()[0]
        entry = _entry_append(
            PointsEntry(
                account=account,
                member_id=member.pk,
                kind=Kind.RESTORE,
                amount=restored,
                balance_after=balance,
                idempotency_key=idempotency_key,
                fingerprint=fp,
                reference=debit.reference,
                reason=reason,
                shortfall=sum(use.amount for use in uses) - restored,
                created_at=now,
            )
        )
        PointsLotReturn.objects.bulk_create(
            [
                PointsLotReturn(entry=entry, use=use, lot_id=use.lot_id, amount=use.amount, restored=use in back)
                for use in uses
            ]
        )
        _card_sync_on_commit(member)
        return entry

    try:
        with transaction.atomic():
            entry = write()
    except IntegrityError as exc:
        if "idempotency_key" not in str(exc) and "use_id" not in str(exc):
            raise
        return _replay(idempotency_key, fp)
    if entry is not None and not hasattr(entry, "replayed"):
        entry.replayed = False
    return entry


def _lots_take(lots: list[PointsLot], points: int) -> list[tuple[PointsLot, int]]:
    """Take up to `points` from `lots` in their order; returns (lot, n) for each lot taken from."""
    taken = []
    for lot in lots:
        if points <= 0:
            break
        n = min(lot.remaining, points)
        if n > 0:
            taken.append((lot, n))
            points -= n
    for lot, n in taken:
        PointsLot.objects.filter(pk=lot.pk).update(remaining=models.F("remaining") - n)
    return taken


def _lot_uses_write(entry: PointsEntry, taken: list[tuple[PointsLot, int]]) -> None:
    PointsLotUse.objects.bulk_create([PointsLotUse(entry=entry, lot=lot, amount=n) for lot, n in taken])


def points_expire_due(*, now: datetime) -> int:
    """Expire every lot of the current brand due at `now`: one expire entry per account, each account in its
    own short transaction. Safe to run twice or concurrently (a lot is expired once). Returns entries written."""
    account_ids = list(
        PointsLot.objects.filter(is_open=True, expires_at__lte=now)
        .values_list("account_id", flat=True)
        .distinct()
        .order_by("account_id")
    )
    return sum(1 for account_id in account_ids if _account_expire(account_id=account_id, now=now) is not None)


def _account_expire(*, account_id: int, now: datetime) -> PointsEntry | None:
    with transaction.atomic():
        account = PointsAccount.objects.select_for_update().select_related("member").get(pk=account_id)
        lots = list(
            PointsLot.objects.select_for_update()
            .filter(account=account, is_open=True, expires_at__lte=now)
            .order_by("id")
        )
        total = sum(lot.remaining for lot in lots)
        if total == 0:
            return None
        key = f"expire:{account.pk}:{lots[0].pk}"  # a lot is expired once, so its first lot names the batch
        fp = request_fingerprint("expire", account=account.pk, lots=[lot.pk for lot in lots])
        written_at = timezone.now()
        taken = _lots_take(lots, total)
        balance = _balance_debit(account=account, points=total, now=written_at)
        entry = _entry_append(
            PointsEntry(
                account=account,
                member_id=account.member_id,
                kind=Kind.EXPIRE,
                amount=-total,
                balance_after=balance,
                idempotency_key=key,
                fingerprint=fp,
                reason="expired",
                created_at=written_at,
            )
        )
        _lot_uses_write(entry, taken)
        _card_sync_on_commit(account.member)
        return entry

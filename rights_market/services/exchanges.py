"""Redeeming: the exchange state machine.

The member API redeems with rights_market.services.redeem.exchange_redeem: the request-time checks below
(request_checked), then every step that stays in our database in one statement (public.market_redeem), so an
exchange starts fulfilled, or, for a provider's code, stock_taken with its driver queued. The state machine below
drives what is left (the provider call, its retries, every undo) and every exchange made by exchange_request (its
deferred form), with the same records and keys: either path's exchange can be finished or undone by the other's
steps.

    requested --debit points (accepting brand)--> points_debited --take stock (public)--> stock_taken
        --fulfil (voucher in the issuer's schema, or provider code)--> fulfilled (+ clearing line)
    any non-terminal state --> undoing --release stock, points back to the lots they came from--> undone

Promises:
- Each step is one database transaction that does its work *and* moves the status, with the exchange row locked
  (`FOR UPDATE SKIP LOCKED`: a second driver of the same exchange steps aside). Public and brand schemas live in
  one database, so a brand-side write and the public status change commit together or not at all.
- Each step is keyed on the exchange id (points idempotency keys, one voucher per exchange, provider reference),
  so running it again after a crash does nothing twice. `exchange_advance` can be called any number of times,
  from any process; `exchanges_resume_stuck` (the sweeper) does exactly that for exchanges left mid-way.
- An exchange ends fulfilled or fully undone: never points taken without stock, or stock without a benefit.
- Lock order: exchange row, then the brand's rows (points account / voucher), then MemberTake, then the offer.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import timedelta
from enum import Enum
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import schema_context

from core.errors import ApplicationError, Conflict, NotFound
from core.tasks import task_named
from rights_market import points_gateway
from rights_market.models import ClearingLine, Exchange, Listing, MemberTake, Offer
from rights_market.providers import ProviderRejected, ProviderUnavailable, adapter_for

logger = logging.getLogger(__name__)
S = Exchange.Status


def max_attempts() -> int:
    return settings.EKR_MARKET_MAX_FULFIL_ATTEMPTS


class Outcome(str, Enum):
    DONE = "done"  # terminal
    RETRY = "retry"  # a transient failure: drive again later
    BUSY = "busy"  # another driver holds the exchange


# --- request -------------------------------------------------------------------------------------------------


def offer_eligibility_error(*, offer: Offer, brand_id: int, member, listing: Listing | None = None) -> str | None:
    """Why `member` (of brand `brand_id`, in the current schema) may not take `offer`, or None.

    Tiers are the accepting brand's own, by identity: the offer may ask for a minimum tier rank, the listing
    may name the brand's tier ids; a member without a tier passes neither."""
    now = timezone.now()
    if offer.status != Offer.Status.LIVE:
        return "offer_not_live"
    if (offer.valid_from and now < offer.valid_from) or (offer.valid_until and now >= offer.valid_until):
        return "offer_not_valid_now"
    if offer.eligible_brand_ids and brand_id not in offer.eligible_brand_ids:
        return "brand_not_eligible"
    if offer.min_tier_rank is not None:
        rank = member.tier.rank if member.tier_id else None
        if rank is None or rank < offer.min_tier_rank:
            return "tier_not_eligible"
    if listing is not None and listing.eligible_tier_ids and member.tier_id not in listing.eligible_tier_ids:
        return "tier_not_eligible"
    if offer.eligible_cities:
        city = member.store.city if member.store_id else ""
        if city not in offer.eligible_cities:
            return "city_not_eligible"
    return None


def exchange_request(*, brand, member, listing_id: int, request_key: str) -> Exchange:
    """A member of `brand` (current schema) asks for the listing's offer. Creates the exchange (requested) and
    queues its driver after commit. The same `request_key` again returns the first exchange.

    Refused at once (nothing written): not eligible (409 with the reason as code), sold out, member limit
    reached, or a balance below the points price (409 insufficient_points). The worker's debit is still the
    guard against a concurrent spend between this check and the debit.

    The member API redeems with rights_market.services.redeem.exchange_redeem instead (the same checks, then
    every step in the request); this is the deferred form the worker's steps drive."""
    checked = request_checked(brand=brand, member=member, listing_id=listing_id, request_key=request_key)
    if isinstance(checked, Exchange):
        return checked
    listing = checked
    offer = listing.offer
    now = timezone.now()
    exchange = Exchange(
        accepting_brand=brand,
        issuer_id=offer.issuer_id,
        offer=offer,
        listing=listing,
        member_id=member.pk,
        request_key=request_key,
        points=listing.points_price,
        settlement_price_fen=offer.settlement_price_fen,
        requested_at=now,
        updated_at=now,
    )
    # the foreign keys come from rows just read and the database enforces them: no look-up per key here
    exchange.full_clean(exclude=_EXCHANGE_FKS, validate_unique=False, validate_constraints=False)
    try:
        with _savepoint_if_nested():
            exchange.save(force_insert=True)
    except IntegrityError:
        existing = next(iter(_of_request_key(brand, member.pk, request_key)[:1]), None)
        if existing is None:
            raise
        return _replay(existing, listing_id)
    exchange.replayed = False
    _drive_on_commit(exchange.pk)
    return exchange


def _of_request_key(brand, member_id: int, request_key: str):
    """The exchange of this request key (none or one), unordered: found through the unique index, not by
    walking the brand's exchanges newest first (Exchange's default ordering)."""
    return Exchange.objects.filter(accepting_brand=brand, member_id=member_id, request_key=request_key).order_by()


def _columns(alias: str, model) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


@cache
def _listing_sql() -> str:
    """The listing read of a request, written once (the ORM compiled the same query anew on every request, a
    third of the request's CPU in bench/market's profile): the listed listing of the brand with its offer, the
    member's count taken, their balance and the request key's exchange id."""
    return (
        f"SELECT {_columns('l', Listing)}, {_columns('o', Offer)}, "
        f"(SELECT t.taken FROM {MemberTake._meta.db_table} t "
        "WHERE t.offer_id = l.offer_id AND t.brand_id = %(brand)s AND t.member_id = %(member)s), "
        f"({points_gateway.points_balance_sql() % '%(member)s'}), "
        f"(SELECT e.id FROM {Exchange._meta.db_table} e "
        "WHERE e.accepting_brand_id = %(brand)s AND e.member_id = %(member)s AND e.request_key = %(key)s) "
        f"FROM {Listing._meta.db_table} l JOIN {Offer._meta.db_table} o ON o.id = l.offer_id "
        "WHERE l.id = %(listing)s AND l.brand_id = %(brand)s AND l.status = %(listed)s"
    )


def _from_row(model, values, db: str):
    """A model instance from its concrete fields' column values, converted as the ORM would (JSON fields)."""
    fields = model._meta.concrete_fields
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(db, [field.attname for field in fields], converted)


def _listing_read(*, brand, member_id: int, listing_id: int, request_key: str) -> Listing | None:
    """The listing with its offer and, as attributes, member_taken, member_balance and replay_id (or None)."""
    params = {"brand": brand.pk, "member": member_id, "key": request_key, "listing": listing_id}
    with connection.cursor() as cursor:
        cursor.execute(_listing_sql(), {**params, "listed": Listing.Status.LISTED})
        row = cursor.fetchone()
    if row is None:
        return None
    n_listing = len(Listing._meta.concrete_fields)
    n_offer = len(Offer._meta.concrete_fields)
    listing = _from_row(Listing, row[:n_listing], connection.alias)
    listing.offer = _from_row(Offer, row[n_listing : n_listing + n_offer], connection.alias)
    listing.member_taken, listing.member_balance, listing.replay_id = row[n_listing + n_offer :]
    return listing


def request_checked(*, brand, member, listing_id: int, request_key: str) -> Listing | Exchange:
    """What a redemption request is checked against, in one read: the listing (with its offer, the member's
    count taken and balance), or the first exchange of this `request_key` (a replay: `replayed` is True).

    Raises what the request is refused with (nothing written): invalid_request_key, listing_not_found (404),
    member_disabled (403), the eligibility reason, sold_out, member_limit_reached, insufficient_points (409),
    idempotency_key_reused (409: the key was used for another listing)."""
    if not request_key or len(request_key) > 64:
        raise ApplicationError(_("request_key is required (at most 64 characters)."), code="invalid_request_key")
    listing = _listing_read(brand=brand, member_id=member.pk, listing_id=listing_id, request_key=request_key)
    if listing is None or listing.replay_id is not None:
        existing = next(iter(_of_request_key(brand, member.pk, request_key)[:1]), None)
        if existing is not None:
            return _replay(existing, listing_id)
    if listing is None:
        raise NotFound(_("No such offer here."), code="listing_not_found")
    offer = listing.offer
    if member.status != member.Status.ACTIVE:
        raise ApplicationError(_("This membership is disabled."), code="member_disabled", status_code=403)
    reason = offer_eligibility_error(offer=offer, brand_id=brand.pk, member=member, listing=listing)
    if reason:
        raise ApplicationError(_("This offer is not available to you."), code=reason, status_code=409)
    if offer.remaining_stock <= 0:
        raise Conflict(_("Sold out."), code="sold_out")
    if (listing.member_taken or 0) >= offer.per_member_limit:
        raise Conflict(_("You already have as many as one member may take."), code="member_limit_reached")
    balance = listing.member_balance or 0
    if balance < listing.points_price:  # the debit still guards a race with another spend
        raise points_gateway.InsufficientPoints(
            _("This needs %(points_price)s points; you have %(balance)s."),
            params={"points_price": listing.points_price, "balance": balance},
            fields={"points": [f"needs {listing.points_price}, balance {balance}"]},
        )
    return listing


_EXCHANGE_FKS = ["accepting_brand", "issuer", "offer", "listing"]


def _savepoint_if_nested():
    """A savepoint inside a caller's transaction (so a failed INSERT leaves it usable); in autocommit a single
    statement is its own transaction and needs no BEGIN/COMMIT round trips."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


DRIVE_TASK = "rights_market.exchange_drive"  # rights_market.tasks.exchange_drive, named: tasks import this module


def _replay(existing: Exchange, listing_id: int) -> Exchange:
    if existing.listing_id != listing_id:
        raise Conflict(_("This request_key was already used for another offer."), code="idempotency_key_reused")
    existing.replayed = True
    return existing


def _drive_on_commit(exchange_id: int) -> None:
    drive = task_named(DRIVE_TASK)
    transaction.on_commit(lambda: drive.apply_async(args=[exchange_id], schema="public"))


# --- driving ---------------------------------------------------------------------------------------------------


def _head(exchange_id: int) -> dict | None:
    """What a driver needs to pick the next step: status, the two brands' schemas and the offer's kind (one read)."""
    return (
        Exchange.objects.filter(pk=exchange_id)
        .values("status", "accepting_brand__schema_name", "issuer__schema_name", "offer__kind")
        .first()
    )


def exchange_advance(*, exchange_id: int, max_steps: int = 12) -> Outcome:
    """Run the exchange's next steps until it is fulfilled or undone (DONE), a transient failure asks to try
    later (RETRY), or another driver holds it (BUSY). Safe to call concurrently and repeatedly.

    Each step reports the status it left the exchange in, so the driver reads the exchange once, not once per
    step; it reads again only when a step found the exchange moved on by another driver."""
    head = _head(exchange_id)
    if head is None:
        raise NotFound(_("No such exchange."), code="exchange_not_found")
    # The steps run on the accepting brand's search path (its schema, then public): the debit and a refund need
    # it, and the public steps find their tables through it, so the connection switches schemas only for the
    # issuer's voucher, not back and forth for every step.
    with _in_schema(head["accepting_brand__schema_name"]):
        return _advance(exchange_id, head, max_steps)


def _in_schema(schema_name: str):
    """schema_context(schema_name), or nothing if the connection is in that schema already (no search path
    change to send)."""
    return nullcontext() if connection.schema_name == schema_name else schema_context(schema_name)


def _advance(exchange_id: int, head: dict, max_steps: int) -> Outcome:
    for _step in range(max_steps):
        status = head["status"]
        if status in Exchange.TERMINAL:
            return Outcome.DONE
        result = _STEPS[status](exchange_id, head)
        if isinstance(result, Outcome):
            return result
        if result is None:  # moved on by someone else: look again
            head = _head(exchange_id)
        else:
            head["status"] = result
    return Outcome.RETRY


def _locked(exchange_id: int, status: str, **annotations) -> Exchange | None:
    """The exchange, row-locked, if it is still in `status` and no one else holds it. Inside a transaction."""
    query = Exchange.objects.select_for_update(skip_locked=True, of=("self",)).filter(pk=exchange_id, status=status)
    if annotations:
        query = query.annotate(**annotations)
    return query.first()


def _busy_or_moved(exchange_id: int, status: str) -> Outcome | None:
    still = Exchange.objects.filter(pk=exchange_id, status=status).exists()
    return Outcome.BUSY if still else None


def _save(exchange: Exchange, *fields: str) -> None:
    exchange.updated_at = timezone.now()
    exchange.save(update_fields=[*fields, "updated_at"])


def _undo_begin(exchange: Exchange, reason: str, error: str = "") -> str:
    exchange.status = S.UNDOING
    exchange.undo_reason = reason
    fields = ["status", "undo_reason"]
    if error:
        exchange.last_error = error[:300]
        fields.append("last_error")
    _save(exchange, *fields)
    return S.UNDOING


def _member_of(exchange: Exchange):
    """The member (in the current brand schema) with what points needs of it, or None."""
    from members.models import Member

    return Member.objects.only("pk", "status", "card_state", "card_code").filter(pk=exchange.member_id).first()


def _step_debit(exchange_id: int, head: dict | None = None) -> Outcome | str | None:
    brand_schema = (head or _head(exchange_id))["accepting_brand__schema_name"]
    with _in_schema(brand_schema), transaction.atomic():
        exchange = _locked(exchange_id, S.REQUESTED)
        if exchange is None:
            return _busy_or_moved(exchange_id, S.REQUESTED)
        member = _member_of(exchange)
        if member is None:
            return _undo_begin(exchange, "member_not_found")
        try:
            points_gateway.points_debit_for_exchange(member=member, points=exchange.points, exchange_id=exchange.pk)
        except points_gateway.InsufficientPoints:
            return _undo_begin(exchange, "insufficient_points")
        exchange.status = S.POINTS_DEBITED
        exchange.points_debited_at = timezone.now()
        _save(exchange, "status", "points_debited_at")
    return S.POINTS_DEBITED


# One statement takes the unit: the member's count (within the offer's per-member limit) first, then the offer's
# stock only if the count was taken, then the exchange's status only if the stock was. Row locks come in the lock
# order (MemberTake, then the offer) because each part reads the one before it. A count taken with no stock left
# is rolled back with the statement's transaction (the caller raises out of it).
_TAKE_SQL = f"""
    WITH t AS (
        INSERT INTO {MemberTake._meta.db_table} AS t (offer_id, brand_id, member_id, taken, limit_at_take)
        SELECT o.id, %(brand)s, %(member)s, 1, o.per_member_limit FROM {Offer._meta.db_table} o WHERE o.id = %(offer)s
        ON CONFLICT (offer_id, brand_id, member_id)
        DO UPDATE SET taken = t.taken + 1, limit_at_take = EXCLUDED.limit_at_take
        WHERE t.taken < EXCLUDED.limit_at_take
        RETURNING t.id
    ), o AS (
        UPDATE {Offer._meta.db_table} SET remaining_stock = remaining_stock - 1, updated_at = %(now)s
        WHERE id = %(offer)s AND remaining_stock > 0 AND status = 'live'
          AND (valid_from IS NULL OR valid_from <= %(now)s) AND (valid_until IS NULL OR valid_until > %(now)s)
          AND EXISTS (SELECT 1 FROM t)
        RETURNING remaining_stock
    ), e AS (
        UPDATE {Exchange._meta.db_table} SET status = %(taken)s, stock_taken_at = %(now)s, updated_at = %(now)s
        WHERE id = %(exchange)s AND EXISTS (SELECT 1 FROM o)
        RETURNING id
    )
    SELECT EXISTS (SELECT 1 FROM t), EXISTS (SELECT 1 FROM e)
"""


class _NoStock(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _stock_take(exchange: Exchange) -> None:
    """One unit for the member and the exchange moved to stock_taken, in one statement; or, with _NoStock
    raised, nothing: the caller lets the exception roll its transaction back (a count taken without stock too)."""
    now = timezone.now()
    params = {
        "offer": exchange.offer_id,
        "brand": exchange.accepting_brand_id,
        "member": exchange.member_id,
        "exchange": exchange.pk,
        "taken": S.STOCK_TAKEN,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_SQL, params)
        counted, stocked = cursor.fetchone()
    if not counted:
        raise _NoStock("member_limit_reached")
    if not stocked:
        raise _NoStock("sold_out")
    exchange.status, exchange.stock_taken_at, exchange.updated_at = S.STOCK_TAKEN, now, now


def _step_take_stock(exchange_id: int, head: dict | None = None) -> Outcome | str | None:
    try:
        with transaction.atomic():
            exchange = _locked(exchange_id, S.POINTS_DEBITED)
            if exchange is None:
                return _busy_or_moved(exchange_id, S.POINTS_DEBITED)
            _stock_take(exchange)
    except _NoStock as no:
        with transaction.atomic():
            exchange = _locked(exchange_id, S.POINTS_DEBITED)
            if exchange is None:
                return _busy_or_moved(exchange_id, S.POINTS_DEBITED)
            return _undo_begin(exchange, no.reason)
    return S.STOCK_TAKEN


def _step_fulfil(exchange_id: int, head: dict | None = None) -> Outcome | str | None:
    head = head or _head(exchange_id)
    if head["offer__kind"] == Offer.Kind.VIRTUAL:
        exchange = Exchange.objects.select_related("offer", "offer__provider", "issuer").get(pk=exchange_id)
        return _fulfil_by_provider(exchange)
    return _fulfil_by_voucher(exchange_id, head["issuer__schema_name"])


def _fulfil_by_voucher(exchange_id: int, issuer_schema: str) -> Outcome | str | None:
    from rights_market.brandside.services import VoucherCannotIssue, voucher_issue

    try:
        with _in_schema(issuer_schema), transaction.atomic():
            locked = (
                Exchange.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("offer")
                .filter(pk=exchange_id, status=S.STOCK_TAKEN)
                .first()
            )
            if locked is None:
                return _busy_or_moved(exchange_id, S.STOCK_TAKEN)
            voucher = voucher_issue(
                exchange_id=locked.pk, offer=locked.offer, accepting_brand_id=locked.accepting_brand_id
            )
            _fulfilled(locked, ref=f"voucher:{voucher.pk}", code=voucher.code)
    except VoucherCannotIssue as exc:  # the coupon template is sold out or gone: undo now
        with translation.override("en"):  # the record of what went wrong stays English, like the logs
            error = exc.message
        return _attempt_failed(exchange_id, error, give_up=True)
    except Exception as exc:
        logger.exception("voucher fulfilment of exchange %s failed", exchange_id)
        return _attempt_failed(exchange_id, f"{type(exc).__name__}: {exc}", give_up=False)
    return S.FULFILLED


def _fulfil_by_provider(exchange: Exchange) -> Outcome | None:
    reference = provider_reference(exchange.pk)
    with transaction.atomic():  # count the attempt before calling out, so a crash mid-call still counts
        locked = _locked(exchange.pk, S.STOCK_TAKEN)
        if locked is None:
            return _busy_or_moved(exchange.pk, S.STOCK_TAKEN)
        gave_up = locked.attempts >= max_attempts()
        if not gave_up:
            locked.attempts += 1
            _save(locked, "attempts")
    adapter = adapter_for(exchange.offer.provider)
    if gave_up:  # issuing was given up before; only voiding (then undoing) is left
        return _provider_give_up(exchange.pk, adapter, reference, "provider_unavailable", locked.last_error)
    try:
        issued = adapter.issue_code(reference=reference, sku=exchange.offer.provider_sku)
    except ProviderRejected as exc:
        return _provider_give_up(exchange.pk, adapter, reference, "provider_rejected", str(exc))
    except ProviderUnavailable as exc:
        if locked.attempts >= max_attempts():
            return _provider_give_up(exchange.pk, adapter, reference, "provider_unavailable", str(exc))
        return _attempt_failed(exchange.pk, str(exc), give_up=False)
    with transaction.atomic():
        locked = _locked(exchange.pk, S.STOCK_TAKEN)
        if locked is None:
            return _busy_or_moved(exchange.pk, S.STOCK_TAKEN)
        _fulfilled(locked, ref=f"provider:{reference}", code=issued.code)
    return None


def provider_reference(exchange_id: int) -> str:
    return f"ekr-exchange-{exchange_id}"


def _provider_give_up(exchange_id: int, adapter, reference: str, reason: str, error: str) -> Outcome | None:
    """Void at the provider (a code might exist after a timeout), then undo. If voiding itself cannot get
    through, stay stock_taken and try again later: undoing while a live code may exist would be half."""
    try:
        adapter.void(reference=reference)
    except (ProviderUnavailable, ProviderRejected) as exc:
        return _attempt_failed(exchange_id, f"{error}; void failed: {exc}", give_up=False)
    with transaction.atomic():
        locked = _locked(exchange_id, S.STOCK_TAKEN)
        if locked is None:
            return _busy_or_moved(exchange_id, S.STOCK_TAKEN)
        _undo_begin(locked, reason, error)
    return None


def _attempt_failed(exchange_id: int, error: str, *, give_up: bool) -> Outcome | None:
    """Record a failed fulfilment attempt; after max_attempts (vouchers) the exchange is undone."""
    with transaction.atomic():
        locked = _locked(exchange_id, S.STOCK_TAKEN)
        if locked is None:
            return _busy_or_moved(exchange_id, S.STOCK_TAKEN)
        locked.last_error = error[:300]
        fields = ["last_error"]
        if locked.offer.kind != Offer.Kind.VIRTUAL:
            locked.attempts += 1
            fields.append("attempts")
        if give_up or (locked.offer.kind != Offer.Kind.VIRTUAL and locked.attempts >= max_attempts()):
            _undo_begin(locked, "fulfilment_failed", error)
            return None
        _save(locked, *fields)
    return Outcome.RETRY


def _fulfilled(exchange: Exchange, *, ref: str, code: str) -> None:
    """Mark fulfilled and write the clearing line, in the caller's transaction."""
    now = timezone.now()
    exchange.status = S.FULFILLED
    exchange.fulfilled_at = now
    exchange.fulfilment_ref = ref
    exchange.fulfilment_code = code
    _save(exchange, "status", "fulfilled_at", "fulfilment_ref", "fulfilment_code")
    line = ClearingLine(
        exchange=exchange,
        payer_id=exchange.accepting_brand_id,
        payee_id=exchange.issuer_id,
        offer_id=exchange.offer_id,
        amount_fen=exchange.settlement_price_fen,
        month=timezone.localdate(now).replace(day=1),
        created_at=now,
    )
    # its foreign keys are the locked exchange's own (the database enforces them): no look-up per key here
    line.full_clean(
        exclude=["exchange", "statement", "payer", "payee", "offer"], validate_unique=False, validate_constraints=False
    )
    line.save(force_insert=True)


# --- undo ------------------------------------------------------------------------------------------------------


def _step_undo(exchange_id: int, head: dict | None = None) -> Outcome | str | None:
    row = (
        Exchange.objects.filter(pk=exchange_id)
        .values(
            "stock_taken_at",
            "stock_released_at",
            "points_debited_at",
            "points_refunded_at",
            "accepting_brand__schema_name",
        )
        .get()
    )
    if row["stock_taken_at"] and not row["stock_released_at"]:
        return _undo_release_stock(exchange_id)
    if row["points_debited_at"] and not row["points_refunded_at"]:
        return _undo_refund_points(exchange_id, row["accepting_brand__schema_name"])
    with transaction.atomic():
        exchange = _locked(exchange_id, S.UNDOING)
        if exchange is None:
            return _busy_or_moved(exchange_id, S.UNDOING)
        exchange.status = S.UNDONE
        exchange.undone_at = timezone.now()
        _save(exchange, "status", "undone_at")
    return S.UNDONE


def _undo_release_stock(exchange_id: int) -> Outcome | None:
    from django.db.models import F

    with transaction.atomic():
        exchange = _locked(exchange_id, S.UNDOING)
        if exchange is None:
            return _busy_or_moved(exchange_id, S.UNDOING)
        if exchange.stock_released_at is None:
            MemberTake.objects.filter(
                offer_id=exchange.offer_id,
                brand_id=exchange.accepting_brand_id,
                member_id=exchange.member_id,
                taken__gt=0,
            ).update(taken=F("taken") - 1)
            Offer.objects.filter(pk=exchange.offer_id).update(
                remaining_stock=F("remaining_stock") + 1, updated_at=timezone.now()
            )
            exchange.stock_released_at = timezone.now()
            _save(exchange, "stock_released_at")
    return None


def _undo_refund_points(exchange_id: int, brand_schema: str) -> Outcome | None:
    with _in_schema(brand_schema), transaction.atomic():
        exchange = _locked(exchange_id, S.UNDOING)
        if exchange is None:
            return _busy_or_moved(exchange_id, S.UNDOING)
        if exchange.points_refunded_at is None:
            member = _member_of(exchange)
            if member is None:  # pragma: no cover - members are never deleted (PROTECT from points)
                raise ApplicationError(_("The member of this exchange is gone."), code="member_not_found")
            points_gateway.points_refund_for_exchange(member=member, points=exchange.points, exchange_id=exchange.pk)
            exchange.points_refunded_at = timezone.now()
            _save(exchange, "points_refunded_at")
    return None


_STEPS = {
    S.REQUESTED: _step_debit,
    S.POINTS_DEBITED: _step_take_stock,
    S.STOCK_TAKEN: _step_fulfil,
    S.UNDOING: _step_undo,
}


# --- the sweeper -----------------------------------------------------------------------------------------------


def exchanges_stuck(*, older_than_seconds: float) -> list[int]:
    """Ids of exchanges not fulfilled or undone whose last change is older than `older_than_seconds`."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Exchange.objects.exclude(status__in=Exchange.TERMINAL)
        .filter(updated_at__lte=cutoff)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:1000]
    )


def exchanges_resume_stuck(*, older_than_seconds: float | None = None) -> int:
    """Queue a driver for each stuck exchange (a worker died mid-way, a message was lost). Returns how many."""
    if older_than_seconds is None:
        older_than_seconds = settings.EKR_MARKET_STUCK_SECONDS
    ids = exchanges_stuck(older_than_seconds=older_than_seconds)
    for exchange_id in ids:
        task_named(DRIVE_TASK).apply_async(args=[exchange_id], schema="public")
    return len(ids)

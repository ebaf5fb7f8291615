"""Redeeming in the request: the member's ask and every step that stays inside our database, at once.

    exchange_redeem(*, brand, member, listing_id, request_key) -> Exchange

The member API calls this. After the same checks as exchange_request, one statement (the SQL function
public.market_redeem, rights_market migration 0004) debits the member in the accepting brand, issues the voucher in
the issuer's schema (taking one coupon of the issuer's template for an offer published from one), writes the
exchange, its clearing line, the member's count and the offer's stock, or writes nothing. What is left is only what
lies outside: an offer fulfilled by a provider's code ends the call in stock_taken and its driver is queued after
commit (the state machine's fulfil step calls the provider, with its retries and its undo: stock released, points
given back to their lots).

Promises:
- All or nothing, in one statement: there is no state between the steps for a crash to leave behind.
- Refusals write nothing and raise what exchange_request raises: a race lost after the checks (another spend, the
  last unit taken, the member's limit reached meanwhile) is the same 409 with the same code; the issuer's coupon
  template sold out or withdrawn is sold_out too (the state machine undoes such an exchange after the fact).
- The same request_key again returns the first exchange (`replayed` True), also for two requests at once.
- Never negative points or stock (the ledger's and the offer's conditional UPDATEs), one voucher per exchange.
- Must run in the accepting brand's schema (the request's): the function refuses any other (nothing written).
"""

from __future__ import annotations

from django.db import IntegrityError, connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, NotFound
from rights_market import points_gateway
from rights_market.models import Exchange
from rights_market.services import exchanges
from rights_market.services.exchanges import request_checked

S = Exchange.Status

_REDEEM = (
    "SELECT r_status, r_exchange, r_voucher, r_offer, r_points, r_issuer, r_valid_until "
    "FROM public.market_redeem(%s, %s, %s, %s, %s, %s, %s, %s)"
)
_ENCRYPT = Exchange._meta.get_field("fulfilment_code").get_prep_value
_VOUCHER_CODE_TRIES = 3  # a new code when one collides with an existing voucher's (1 in 32^12 a voucher)


def exchange_redeem(*, brand, member, listing_id: int, request_key: str) -> Exchange:
    """A member of `brand` (current schema: the request's) redeems the listing: fulfilled on return, or
    stock_taken with its driver queued when the benefit comes from outside. See the module's promises."""
    checked = request_checked(brand=brand, member=member, listing_id=listing_id, request_key=request_key)
    if isinstance(checked, Exchange):
        return checked
    listing = checked
    row = _redeem(brand=brand, member=member, listing_id=listing.pk, request_key=request_key)
    status, exchange_id = row["status"], row["exchange_id"]
    if status == "replay":  # a twin request committed first
        return exchanges._replay(Exchange.objects.get(pk=exchange_id), listing_id)
    _refused(status)
    points_gateway.debited_in_sql(member=member)
    now = row["now"]
    exchange = Exchange(
        pk=exchange_id,
        accepting_brand=brand,
        issuer_id=row["issuer_id"],
        offer_id=row["offer_id"],
        listing_id=listing.pk,
        member_id=member.pk,
        request_key=request_key,
        points=row["points"],
        settlement_price_fen=listing.offer.settlement_price_fen,
        status=status,
        requested_at=now,
        points_debited_at=now,
        stock_taken_at=now,
        updated_at=now,
    )
    if row["offer_id"] == listing.offer_id:
        exchange.offer = listing.offer  # for the answer's title
    if status == S.FULFILLED:
        exchange.fulfilled_at = now
        exchange.fulfilment_ref = f"voucher:{row['voucher_id']}"
        exchange.fulfilment_code = row["code"]
    else:
        exchanges._drive_on_commit(exchange_id)
    exchange.replayed = False
    return exchange


def _redeem(*, brand, member, listing_id: int, request_key: str) -> dict:
    from rights_market.brandside.services import voucher_code_new

    for attempt in range(_VOUCHER_CODE_TRIES):
        code = voucher_code_new()
        now = timezone.now()
        params = [brand.pk, member.pk, listing_id, request_key, points_gateway.DEBIT_REASON, code, _ENCRYPT(code), now]
        try:
            with exchanges._savepoint_if_nested(), connection.cursor() as cursor:
                cursor.execute(_REDEEM, params)
                values = cursor.fetchone()
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
            if "code" not in constraint or attempt == _VOUCHER_CODE_TRIES - 1:
                raise
            continue
        columns = ("status", "exchange_id", "voucher_id", "offer_id", "points", "issuer_id", "valid_until")
        return {**dict(zip(columns, values, strict=True)), "code": code, "now": now}
    raise AssertionError("unreachable")  # pragma: no cover


def _refused(status: str) -> None:
    """Raise the refusal the function returned, as the request-time checks word it (a race lost after them)."""
    if status in (S.FULFILLED, S.STOCK_TAKEN):
        return
    if status == "listing_not_found":
        raise NotFound(_("No such offer here."), code="listing_not_found")
    if status == "insufficient_points":
        raise points_gateway.InsufficientPoints(_("Not enough points."), fields={"points": ["more than the balance"]})
    if status == "sold_out":
        raise Conflict(_("Sold out."), code="sold_out")
    if status == "member_limit_reached":
        raise Conflict(_("You already have as many as one member may take."), code="member_limit_reached")
    raise RuntimeError(f"market_redeem answered {status!r}")  # pragma: no cover

"""Writes in the issuing brand's schema: issuing a voucher for an exchange, a member claiming it, a store using it.

A voucher of an offer published from a coupon template (source_ref "coupon_template:<id>") takes one of the
template's coupons when it is issued, and becomes a real coupon of this brand's shops when it is claimed
(owned by the claiming member, code = the voucher's code): usable in the mini-program shops and at a store's POS
by code, with the template's rules. The voucher then follows its coupon (voucher_follow_coupon, subscribed to
miniprograms.hooks in the app's ready()).

Callers must already be in the issuer's schema (rights_market.services.exchanges enters it for the fulfil step;
the API runs on the issuer's host).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict, NotFound
from rights_market.brandside.models import Voucher

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def voucher_code_new() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


class VoucherCannotIssue(ApplicationError):
    """The issuer cannot issue this voucher at all (its coupon template is gone or sold out): trying again
    will not help, the exchange is undone."""

    code = "voucher_cannot_issue"
    status_code = 409


def _template_id_of(offer) -> int | None:
    kind, _, pk = (offer.source_ref or "").partition(":")
    return int(pk) if kind == "coupon_template" and pk.isdigit() else None


def voucher_issue(*, exchange_id: int, offer, accepting_brand_id: int) -> Voucher:
    """The voucher for `exchange_id`: created once; a second call returns the first one. For an offer from a
    coupon template, one coupon of the template's stock is taken with it (VoucherCannotIssue if none is left)."""
    from miniprograms.services.coupons import coupon_template_reserve

    existing = Voucher.objects.filter(exchange_id=exchange_id).first()
    if existing is not None:
        return existing
    template_id = _template_id_of(offer)
    now = timezone.now()
    valid_until = now + timedelta(days=offer.voucher_valid_days)
    if offer.valid_until and offer.valid_until > now:
        valid_until = max(valid_until, offer.valid_until)
    voucher = Voucher(
        exchange_id=exchange_id,
        offer_id=offer.pk,
        accepting_brand_id=accepting_brand_id,
        code=voucher_code_new(),
        title=offer.title,
        kind=offer.kind,
        face_value_fen=offer.face_value_fen,
        valid_until=valid_until,
        created_at=now,
        coupon_template_id=template_id,
    )
    # unique and check constraints are the database's to enforce (a racing duplicate fails the INSERT)
    voucher.full_clean(
        exclude=["claimed_member", "used_store", "coupon_template", "coupon"],
        validate_unique=False,
        validate_constraints=False,
    )
    if template_id is None:  # one INSERT: it needs no savepoint of its own
        voucher.save(force_insert=True)
        return voucher
    with transaction.atomic():
        try:
            coupon_template_reserve(template_id=template_id)
        except ApplicationError as exc:
            # the inner error is a param, so it is rendered (translated) together with this one
            raise VoucherCannotIssue(
                _("Coupon template %(template_id)s: %(message)s"),
                params={"template_id": template_id, "message": exc},
            ) from exc
        voucher.save(force_insert=True)
    return voucher


def _coupon_for_claim(voucher: Voucher) -> None:
    """The claimed voucher's coupon (once; only while the voucher is still to be used)."""
    from miniprograms.services.coupons import coupon_issue_reserved

    if voucher.coupon_template_id is None or voucher.coupon_id is not None or voucher.status != Voucher.Status.ISSUED:
        return
    voucher.coupon = coupon_issue_reserved(
        template_id=voucher.coupon_template_id,
        member=voucher.claimed_member,
        issue_key=f"market:{voucher.exchange_id}",
        valid_until=voucher.valid_until,
        code=voucher.code,
    )
    voucher.save(update_fields=["coupon"])


def voucher_follow_coupon(coupon, used: bool, at) -> None:
    """miniprograms.hooks listener: the voucher whose coupon was used (at checkout or a POS) is used; given
    back (order cancelled or refunded), it is to be used again. Idempotent."""
    if used:
        Voucher.objects.filter(coupon_id=coupon.pk, status=Voucher.Status.ISSUED).update(
            status=Voucher.Status.USED, used_at=at
        )
    else:
        Voucher.objects.filter(coupon_id=coupon.pk, status=Voucher.Status.USED).update(
            status=Voucher.Status.ISSUED, used_at=None, used_store=None, order_amount_fen=0
        )


def voucher_claim(*, code: str, openid: str, unionid: str = "") -> Voucher:
    """The holder of `code` claims it into this brand's mini-program: it is linked to their member here, who is
    created (joining channel "rights market") if they are not a member yet. Claiming twice by the same member
    is a no-op; a voucher claimed by someone else, used, void or expired is a Conflict (and makes no member)."""
    from members.models import Member

    with transaction.atomic():
        voucher = Voucher.objects.select_for_update().filter(code=code.strip().upper()).first()
        if voucher is None:
            raise NotFound(_("No such voucher."), code="voucher_not_found")
        member = Member.objects.filter(openid=openid).first()
        if voucher.claimed_member_id is not None:
            if member is not None and voucher.claimed_member_id == member.pk:
                _coupon_for_claim(voucher)
                return voucher
            raise Conflict(_("This voucher was already claimed."), code="voucher_claimed")
        if voucher.status != Voucher.Status.ISSUED:
            raise Conflict(
                _("This voucher is %(status)s and cannot be claimed."),
                params={"status": voucher.status},
                code=f"voucher_{voucher.status}",
            )
        if voucher.valid_until <= timezone.now():
            raise Conflict(_("This voucher has expired."), code="voucher_expired")
        made = member is None
        if made:
            member = Member(openid=openid, unionid=unionid or None, join_channel=Member.Channel.RIGHTS_MARKET)
            member.full_clean(exclude=["phone_hash"], validate_unique=False)
            member.save()
        voucher.claimed_member = member
        voucher.claimed_at = timezone.now()
        voucher.claim_made_member = made
        voucher.full_clean(exclude=["used_store"])
        voucher.save(update_fields=["claimed_member", "claimed_at", "claim_made_member"])
        _coupon_for_claim(voucher)
    return voucher


def voucher_use(*, code: str, store_code: str, order_amount_fen: int = 0) -> Voucher:
    """A store takes the voucher: once, while valid. `order_amount_fen` is the sale it was used on.

    A voucher claimed as a coupon is taken through its coupon (coupon first, then the voucher follows: the same
    lock order as checkout and the POS), so it cannot also be used at checkout."""
    from members.models import Store
    from miniprograms.services.coupons import coupon_use

    if order_amount_fen < 0:
        raise ApplicationError(_("Amount cannot be negative."), code="invalid_amount")
    store = Store.objects.filter(code=store_code).first()
    if store is None:
        raise NotFound(_("No such store."), code="store_not_found")
    code = code.strip().upper()
    now = timezone.now()
    with transaction.atomic():
        found = Voucher.objects.filter(code=code).values("pk", "coupon_id", "claimed_member_id").first()
        if found is None:
            raise NotFound(_("No such voucher."), code="voucher_not_found")
        if found["coupon_id"] is not None:
            from members.models import Member

            coupon_use(coupon_id=found["coupon_id"], member=Member(pk=found["claimed_member_id"]))
            Voucher.objects.filter(pk=found["pk"]).update(used_store=store, order_amount_fen=order_amount_fen)
        elif not Voucher.objects.filter(pk=found["pk"], status=Voucher.Status.ISSUED, valid_until__gt=now).update(
            status=Voucher.Status.USED, used_at=now, used_store=store, order_amount_fen=order_amount_fen
        ):
            raise Conflict(_("This voucher is used, void or expired."), code="voucher_not_usable")
        return Voucher.objects.get(pk=found["pk"])

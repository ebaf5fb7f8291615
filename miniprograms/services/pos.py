"""Store POS sales (offline orders): API keys per store, and receipts recorded in batches, idempotent per
(store, receipt number). A buyer is a member (member id or phone) or nobody: non-member sales are recorded too
(phone kept only as a keyed hash). Paid member sales earn points like online ones.

A receipt may carry a coupon code (a member's coupon, e.g. a rights market voucher claimed here): the coupon's
holder is the buyer, the template's rules give the discount (added to the till's own `discount_fen`), and the
coupon is used in the receipt's transaction, so a receipt sent again never uses it twice."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict, NotFound
from members.models import Member, Store
from miniprograms.models import Coupon, NonMemberBuyer, Order, OrderEvent, OrderLine, PosApiKey, Sku
from miniprograms.selectors import phone_hash
from miniprograms.services.coupons import coupon_discount, coupon_use
from miniprograms.services.loyalty import points_for_paid_order
from miniprograms.services.orders import order_number_new

MAX_BATCH = 200


@transaction.atomic
def pos_api_key_create(*, store: Store, label: str = "", created_by_id: int | None = None) -> str:
    """A new key for the store's POS; the raw key is returned once and only its hash is kept. At most
    settings.EKR_POS_KEYS_PER_STORE active keys per store (409 `too_many_keys`: revoke one first)."""
    Store.objects.select_for_update().filter(pk=store.pk).first()  # one creator at a time per store
    if PosApiKey.objects.filter(store=store, active=True).count() >= settings.EKR_POS_KEYS_PER_STORE:
        raise Conflict(
            _("A store has at most %(max_keys)s active POS keys; revoke one first."),
            params={"max_keys": settings.EKR_POS_KEYS_PER_STORE},
            code="too_many_keys",
        )
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    PosApiKey.objects.create(
        store=store,
        prefix=prefix,
        key_hash=hashlib.sha256(secret.encode()).hexdigest(),
        label=label[:64],
        created_by_id=created_by_id,
    )
    return f"{prefix}.{secret}"


@transaction.atomic
def pos_api_key_revoke(*, store: Store, key_id: int, revoked_by_id: int | None = None) -> PosApiKey:
    """Revoke one of the store's keys: from now on it is refused (401). Revoking again changes nothing."""
    key = PosApiKey.objects.select_for_update().filter(pk=key_id, store=store).first()
    if key is None:
        raise NotFound(_("No such POS key."))
    if key.active:
        key.active, key.revoked_at, key.revoked_by_id = False, timezone.now(), revoked_by_id
        key.save(update_fields=["active", "revoked_at", "revoked_by_id"])
    return key


def _members_in_scope(store: Store):
    """The members a store's POS may record sales for: its franchisee's members (by home store); for a direct
    store, members homed at a direct store or at none."""
    if store.franchisee_id:
        return Member.objects.filter(store__franchisee_id=store.franchisee_id)
    return Member.objects.filter(Q(store__isnull=True) | Q(store__franchisee__isnull=True))


def pos_api_key_check(raw: str) -> Store | None:
    prefix, _, secret = (raw or "").partition(".")
    key = PosApiKey.objects.select_related("store").filter(prefix=prefix, active=True).first()
    if key is None or not secret:
        return None
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return key.store if hmac.compare_digest(digest, key.key_hash) else None


@dataclass
class ReceiptResult:
    receipt_no: str
    status: str  # created | duplicate | error
    order_id: int | None = None
    error: dict | None = None


def _receipt_fingerprint(order: Order) -> tuple:
    return order.total_fen, order.discount_fen, order.lines.count()


def _record_one(*, store: Store, receipt: dict) -> ReceiptResult:
    no = receipt["receipt_no"]
    existing = Order.objects.filter(store=store, receipt_no=no).first()
    if existing is None:
        try:
            with transaction.atomic():
                return _create(store=store, receipt=receipt)
        except IntegrityError:  # the same receipt from a concurrent batch
            existing = Order.objects.filter(store=store, receipt_no=no).first()
            if existing is None:
                raise
    lines = receipt["lines"]
    subtotal = sum(ln["unit_price_fen"] * ln["quantity"] for ln in lines)
    coupon_code = (receipt.get("coupon_code") or "").strip().upper()
    if coupon_code:  # the coupon's discount was computed when the receipt was first recorded
        existing_code = existing.coupon.code if existing.coupon_id else None
        same = (existing.subtotal_fen, existing.lines.count(), existing_code) == (subtotal, len(lines), coupon_code)
    else:
        same = not existing.coupon_id and _receipt_fingerprint(existing) == (
            subtotal - receipt.get("discount_fen", 0),
            receipt.get("discount_fen", 0),
            len(lines),
        )
    if not same:
        return ReceiptResult(
            no,
            "error",
            existing.pk,
            {"code": "receipt_reused", "message": "This receipt number was sent with other data."},
        )
    return ReceiptResult(no, "duplicate", existing.pk)


def _create(*, store: Store, receipt: dict) -> ReceiptResult:
    no = receipt["receipt_no"]
    member = None
    buyer_hash = ""
    for ln in receipt["lines"]:
        if ln["unit_price_fen"] * ln["quantity"] > settings.EKR_POS_MAX_LINE_FEN:
            raise ApplicationError(
                _("A line is over the per-line cap."),
                code="line_over_cap",
                fields={"lines": [f"{ln['sku_code']}: over {settings.EKR_POS_MAX_LINE_FEN} fen"]},
            )
    openid = receipt.get("openid") or ""
    if receipt.get("member_id"):
        # the same answer for an id that does not exist and one outside the store's scope: no oracle
        member = _members_in_scope(store).filter(pk=receipt["member_id"]).first()
        if member is None:
            raise ApplicationError(_("No such member."), code="member_not_found")
    elif receipt.get("phone"):
        try:
            buyer_hash = phone_hash(receipt["phone"])
        except ValueError as exc:
            raise ApplicationError(_("Not a mainland mobile number."), fields={"phone": ["invalid"]}) from exc
        member = _members_in_scope(store).filter(phone_hash=buyer_hash).first()
    if member is None and openid:
        member = _members_in_scope(store).filter(openid=openid).first()
    codes = [ln["sku_code"] for ln in receipt["lines"]]
    skus = {s.code: s for s in Sku.objects.select_related("product").filter(code__in=codes)}
    unknown = sorted(set(codes) - set(skus))
    if unknown:
        raise ApplicationError(_("Unknown SKU codes."), code="sku_not_found", fields={"lines": unknown})
    subtotal = sum(ln["unit_price_fen"] * ln["quantity"] for ln in receipt["lines"])
    discount = receipt.get("discount_fen", 0)
    coupon = None
    if receipt.get("coupon_code"):
        coupon, member = _coupon_for_receipt(
            store=store, receipt=receipt, member=member, skus=skus, other_discount=discount
        )
        discount += sum(coupon.shares)
    if discount > subtotal:
        raise ApplicationError(_("The discount exceeds the subtotal."), fields={"discount_fen": ["too large"]})
    sold_at = receipt.get("sold_at") or timezone.now()
    order = Order(
        number=order_number_new(),
        channel=Order.Channel.POS,
        store=store,
        member=member,
        coupon=coupon,
        status=Order.Status.PAID,
        subtotal_fen=subtotal,
        discount_fen=discount,
        total_fen=subtotal - discount,
        fulfilment=Order.Fulfilment.IN_STORE,
        fulfilment_status=Order.FulfilmentStatus.PICKED_UP,
        receipt_no=no,
        buyer_phone_hash="" if member else buyer_hash,
        created_at=sold_at,
        paid_at=sold_at,
    )
    order.full_clean(validate_constraints=False)
    order.save()
    remaining = discount
    rows = []
    for i, ln in enumerate(receipt["lines"]):
        total = ln["unit_price_fen"] * ln["quantity"]
        share = remaining if i == len(receipt["lines"]) - 1 else (discount * total // subtotal if subtotal else 0)
        remaining -= share
        sku = skus[ln["sku_code"]]
        rows.append(
            OrderLine(
                order=order,
                sku=sku,
                product_name=sku.product.name,
                sku_code=sku.code,
                attributes=sku.attributes,
                unit_price_fen=ln["unit_price_fen"],
                quantity=ln["quantity"],
                discount_fen=share,
                total_fen=total - share,
            )
        )
    OrderLine.objects.bulk_create(rows)
    OrderEvent.objects.create(order=order, status="paid", note="POS")
    if member is not None:
        points_for_paid_order(order=order)
    else:
        _nonmember_buyer_record(order=order, openid=openid, phone_hash=buyer_hash)
    return ReceiptResult(no, "created", order.pk)


def _nonmember_buyer_record(*, order: Order, openid: str, phone_hash: str) -> NonMemberBuyer:
    """Keep who bought without being a member (analytics' join-rate denominator)."""
    if openid:
        kind, identity = NonMemberBuyer.Kind.OPENID, openid
    elif phone_hash:
        kind, identity = NonMemberBuyer.Kind.PHONE, phone_hash
    else:
        kind, identity = NonMemberBuyer.Kind.RECEIPT, f"{order.store_id}:{order.receipt_no}"
    return NonMemberBuyer.objects.create(
        order=order,
        store_id=order.store_id,
        day=timezone.localdate(order.paid_at),
        kind=kind,
        identity=identity,
        bought_at=order.paid_at,
    )


def _coupon_for_receipt(
    *, store: Store, receipt: dict, member: Member | None, skus: dict, other_discount: int
) -> tuple[Coupon, Member]:
    """The receipt's coupon, used now (its holder is the buyer); `coupon.shares` is its discount per line,
    computed on what is left after the till's own discount."""
    code = receipt["coupon_code"].strip().upper()
    coupon = Coupon.objects.select_related("template", "member").filter(code=code).first()
    if coupon is None:
        raise ApplicationError(
            _("No such coupon."), code="coupon_not_found", status_code=404, fields={"coupon_code": ["unknown"]}
        )
    if member is not None and member.pk != coupon.member_id:
        raise ApplicationError(
            _("This coupon belongs to another member."),
            code="coupon_not_yours",
            status_code=409,
            fields={"coupon_code": ["another member's"]},
        )
    subtotal = sum(ln["unit_price_fen"] * ln["quantity"] for ln in receipt["lines"])
    lines = []
    for ln in receipt["lines"]:  # the till's discount spread over the lines before the coupon applies
        total = ln["unit_price_fen"] * ln["quantity"]
        lines.append(
            {
                "product_id": skus[ln["sku_code"]].product_id,
                "total_fen": total - (other_discount * total // subtotal if subtotal else 0),
            }
        )
    coupon.shares = coupon_discount(coupon=coupon, store_id=store.pk, lines=lines)
    coupon_use(coupon_id=coupon.pk, member=coupon.member)
    return coupon, coupon.member


def pos_orders_record(*, store: Store, receipts: list[dict]) -> list[ReceiptResult]:
    """Record a batch of receipts, each on its own (one bad receipt does not stop the others). Sending a receipt
    again returns "duplicate" with the first order; the same number with other data is an error."""
    if len(receipts) > MAX_BATCH:
        raise ApplicationError(
            _("At most %(max_receipts)s receipts per batch."),
            params={"max_receipts": MAX_BATCH},
            fields={"receipts": ["too many"]},
        )
    results = []
    for receipt in receipts:
        try:
            results.append(_record_one(store=store, receipt=receipt))
        except ApplicationError as exc:
            results.append(
                ReceiptResult(
                    receipt["receipt_no"],
                    "error",
                    None,
                    {"code": exc.code, "message": exc.message, "fields": exc.fields},
                )
            )
    return results

"""Commission payouts: once a month each guide is paid the commission that became payable and was not paid
before, less clawbacks (commission a refund took back after it had been paid). HQ drafts the month, approves each
payout (its amount is then fixed), and pays it: a WeChat Pay transfer to the guide's openid (called after commit,
keyed by the payout's number, so a retry never pays twice) or marked paid offline. The payout, its entries and
clawbacks are the statement the guide sees."""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict
from members.models import Guide
from miniprograms.models import CommissionClawback, CommissionEntry, CommissionPayout
from miniprograms.services.orders import order_number_new

logger = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _month_end(month: date) -> datetime:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return datetime.combine(following, time.min, tzinfo=SHANGHAI)


def _totals(payout: CommissionPayout) -> None:
    commission = (
        CommissionEntry.objects.filter(payout=payout).aggregate(n=Sum(F("amount_fen") - F("reversed_fen")))["n"] or 0
    )
    clawback = CommissionClawback.objects.filter(payout=payout).aggregate(n=Sum("amount_fen"))["n"] or 0
    payout.commission_fen, payout.clawback_fen = commission, clawback
    payout.amount_fen = commission - clawback


_ATTACH_SQL = f"""
    UPDATE {CommissionEntry._meta.db_table} SET payout_id = %(payout)s
    WHERE guide_id = %(guide)s AND status = %(payable)s AND payout_id IS NULL AND payable_at < %(end)s
    RETURNING amount_fen - reversed_fen
"""


@transaction.atomic
def commission_payouts_prepare(*, month: date) -> list[CommissionPayout]:
    """Draft `month`'s payout of each guide with commission payable before the month ended and not in a payout
    yet, less their open clawbacks (as many as the commission covers, oldest first; the rest waits for a later
    payout). A guide already drafted for the month is left as is: running it twice makes nothing twice.

    A few statements for the month and three per guide: the payout row, the entries attached to it (their
    commission summed from exactly the rows attached, so a refund committed meanwhile is either in the sum or
    not attached), its totals."""
    month = month.replace(day=1)
    end = _month_end(month)
    due = CommissionEntry.objects.filter(status=CommissionEntry.Status.PAYABLE, payout__isnull=True, payable_at__lt=end)
    guide_ids = sorted(set(due.values_list("guide_id", flat=True)))
    drafted = set(
        CommissionPayout.objects.filter(month=month, guide_id__in=guide_ids).values_list("guide_id", flat=True)
    )
    todo = [g for g in guide_ids if g not in drafted]
    open_clawbacks: dict[int, list[CommissionClawback]] = {}
    for clawback in (
        CommissionClawback.objects.select_for_update().filter(guide_id__in=todo, payout__isnull=True).order_by("id")
    ):
        open_clawbacks.setdefault(clawback.guide_id, []).append(clawback)
    made = []
    for guide_id in todo:
        payout = CommissionPayout(guide_id=guide_id, month=month, number="P" + order_number_new())
        payout.full_clean(validate_unique=False, validate_constraints=False)
        payout.save()
        with connection.cursor() as cursor:
            cursor.execute(
                _ATTACH_SQL,
                {"payout": payout.pk, "guide": guide_id, "payable": CommissionEntry.Status.PAYABLE, "end": end},
            )
            commission = sum(row[0] for row in cursor.fetchall())
        room, taken = commission, []
        for clawback in open_clawbacks.get(guide_id, []):
            if clawback.amount_fen > room:
                break
            room -= clawback.amount_fen
            taken.append(clawback.pk)
        if taken:
            CommissionClawback.objects.filter(pk__in=taken).update(payout=payout)
        payout.commission_fen, payout.clawback_fen, payout.amount_fen = commission, commission - room, room
        payout.save(update_fields=["commission_fen", "clawback_fen", "amount_fen"])
        made.append(payout)
    return made


@transaction.atomic
def commission_payout_approve(*, payout: CommissionPayout, actor_id: int) -> CommissionPayout:
    """HQ approves a draft: its amount is recomputed (refunds since the draft) and fixed from now on; commission
    refunded after this is clawed back from a later payout."""
    payout = CommissionPayout.objects.select_for_update().get(pk=payout.pk)
    if payout.status != CommissionPayout.Status.DRAFT:
        raise Conflict(_("This payout was already approved."), code="payout_not_draft")
    _totals(payout)
    payout.status = CommissionPayout.Status.APPROVED
    payout.approved_by_id, payout.approved_at = actor_id, timezone.now()
    payout.save(
        update_fields=["commission_fen", "clawback_fen", "amount_fen", "status", "approved_by_id", "approved_at"]
    )
    return payout


@transaction.atomic
def _mark_paid(*, payout_id: int, actor_id: int | None, method: str, payment_no: str = "") -> CommissionPayout:
    payout = CommissionPayout.objects.select_for_update().get(pk=payout_id)
    if payout.status != CommissionPayout.Status.APPROVED:
        raise Conflict(_("Only an approved payout is paid."), code="payout_not_approved")
    if method == CommissionPayout.Method.OFFLINE and payout.transfer_state not in _RETRYABLE:
        raise Conflict(
            _("A WeChat transfer of this payout is under way; it cannot be paid offline."),
            code="payout_transfer_in_flight",
        )
    payout.status, payout.method, payout.wechat_payment_no = CommissionPayout.Status.PAID, method, payment_no
    payout.paid_by_id, payout.paid_at, payout.last_error = actor_id, timezone.now(), ""
    payout.save(update_fields=["status", "method", "wechat_payment_no", "paid_by_id", "paid_at", "last_error"])
    return payout


_RETRYABLE = {"", "FAIL", "CANCELLED"}  # no transfer, or WeChat's final word that it paid nothing


def _miniprogram():
    from tenants.models import WeChatApp

    app = WeChatApp.objects.filter(brand__schema_name=connection.schema_name, kind=WeChatApp.Kind.MINIPROGRAM).first()
    if app is None:
        raise Conflict(_("The brand has no mini-program."), code="no_miniprogram")
    return app


def commission_payout_pay(*, payout: CommissionPayout, actor_id: int, method: str) -> CommissionPayout:
    """Pay an approved payout: `offline` records it paid (not while a WeChat transfer is under way); `wechat`
    transfers the amount to the guide's openid, outside any transaction. With the brand's merchant set up for
    APIv3, a 商家转账 bill (see `commission_payout_transfer_send`); else WeChat Pay v2 企业付款 keyed by the payout
    number. A WeChat failure keeps it approved with the error (502); paying again retries without paying twice."""
    payout = CommissionPayout.objects.select_related("guide").get(pk=payout.pk)
    if payout.status != CommissionPayout.Status.APPROVED:
        raise Conflict(_("Only an approved payout is paid."), code="payout_not_approved")
    if method == CommissionPayout.Method.OFFLINE:
        return _mark_paid(payout_id=payout.pk, actor_id=actor_id, method=method)
    if method != CommissionPayout.Method.WECHAT:
        raise ApplicationError(_("Pay by wechat or offline."), fields={"method": ["wechat or offline"]})
    if not payout.guide.openid:
        raise Conflict(_("The guide has no openid to be paid at."), code="guide_without_openid")
    app = _miniprogram()
    if app.mch_apiv3_key or payout.transfer_attempt:  # once a v3 bill exists, never a second way of paying
        return commission_payout_transfer_send(payout=payout, actor_id=actor_id)
    from miniprograms.payments import PaymentUnavailable, gateway_for
    from tenants.models import WeChatApp

    gateway = gateway_for(app.appid, api=WeChatApp.PayApi.V2)
    try:
        payment_no = gateway.transfer(
            partner_trade_no=payout.number,
            openid=payout.guide.openid,
            amount_fen=payout.amount_fen,
            description=f"commission {payout.month:%Y-%m}",
        )
    except PaymentUnavailable as exc:
        CommissionPayout.objects.filter(pk=payout.pk).update(last_error=str(exc)[:200])
        logger.warning("payout %s: WeChat transfer failed: %s", payout.number, exc)
        raise
    return _mark_paid(payout_id=payout.pk, actor_id=actor_id, method=method, payment_no=payment_no)


@transaction.atomic
def _transfer_begin(*, payout_id: int) -> CommissionPayout:
    """Fix the out_bill_no of the transfer about to be sent (committed before WeChat is called): a new attempt
    only when there was none or WeChat's last word was FAIL/CANCELLED; otherwise the same bill again."""
    payout = CommissionPayout.objects.select_for_update().select_related("guide").get(pk=payout_id)
    if payout.status != CommissionPayout.Status.APPROVED:
        raise Conflict(_("Only an approved payout is paid."), code="payout_not_approved")
    if payout.transfer_attempt == 0 or payout.transfer_state in ("FAIL", "CANCELLED"):
        payout.transfer_attempt += 1
        payout.transfer_state, payout.transfer_bill_no, payout.transfer_package_info = "", "", ""
        payout.save(update_fields=["transfer_attempt", "transfer_state", "transfer_bill_no", "transfer_package_info"])
    return payout


@transaction.atomic
def _transfer_record(*, payout_id: int, attempt: int, bill, actor_id: int | None) -> CommissionPayout:
    """What WeChat said of the attempt's bill; SUCCESS pays the payout, FAIL leaves it approved and retryable.
    An answer about an older attempt, or for a payout no longer approved, changes nothing."""
    payout = CommissionPayout.objects.select_for_update().get(pk=payout_id)
    if payout.status != CommissionPayout.Status.APPROVED or payout.transfer_attempt != attempt:
        return payout
    payout.transfer_bill_no, payout.transfer_state = bill.transfer_bill_no, bill.state
    payout.transfer_package_info = bill.package_info if bill.state == "WAIT_USER_CONFIRM" else ""
    payout.last_error = f"{bill.state} {bill.fail_reason}"[:200] if bill.state in ("FAIL", "CANCELLED") else ""
    payout.save(update_fields=["transfer_bill_no", "transfer_state", "transfer_package_info", "last_error"])
    if bill.state == "SUCCESS":
        payout.status, payout.method = CommissionPayout.Status.PAID, CommissionPayout.Method.WECHAT
        payout.wechat_payment_no, payout.paid_by_id, payout.paid_at = bill.transfer_bill_no, actor_id, timezone.now()
        payout.save(update_fields=["status", "method", "wechat_payment_no", "paid_by_id", "paid_at"])
    return payout


def commission_payout_transfer_send(*, payout: CommissionPayout, actor_id: int | None) -> CommissionPayout:
    """Send the payout's 商家转账 bill (WeChat Pay v3, the brand's own merchant) to the guide's openid, after the
    attempt's out_bill_no is committed and outside any transaction. The same out_bill_no is sent again until WeChat
    says FAIL, so a retry after a lost answer reads back the bill already made and never pays twice. The payout is
    paid when the bill is SUCCESS; while it waits for the guide to confirm (WAIT_USER_CONFIRM) or is processed it
    stays approved with the state (`commission_payout_transfers_refresh` follows it up); FAIL keeps it approved
    and retryable with a new out_bill_no. WeChat unreachable or refusing: the error is kept and raised (502)."""
    from miniprograms.payments import PaymentUnavailable
    from miniprograms.payments.transfers_v3 import MerchantTransfers

    transfers = MerchantTransfers.for_app(_miniprogram())
    payout = _transfer_begin(payout_id=payout.pk)
    try:
        bill = transfers.transfer(
            out_bill_no=payout.out_bill_no,
            openid=payout.guide.openid,
            amount_fen=payout.amount_fen,
            remark=f"{payout.month:%Y-%m} 佣金",
        )
    except PaymentUnavailable as exc:
        CommissionPayout.objects.filter(pk=payout.pk, transfer_attempt=payout.transfer_attempt).update(
            last_error=str(exc)[:200]
        )
        logger.warning("payout %s: WeChat transfer %s failed: %s", payout.number, payout.out_bill_no, exc)
        raise
    return _transfer_record(payout_id=payout.pk, attempt=payout.transfer_attempt, bill=bill, actor_id=actor_id)


def commission_payout_transfers_refresh(*, limit: int = 100) -> int:
    """The periodic follow-up of the brand's transfers still under way: each bill is read back by its
    out_bill_no (no lock held meanwhile) and recorded. Returns how many payouts became paid."""
    from miniprograms.payments import PaymentUnavailable
    from miniprograms.payments.transfers_v3 import FINAL_STATES, MerchantTransfers

    pending = list(
        CommissionPayout.objects.filter(status=CommissionPayout.Status.APPROVED, transfer_attempt__gt=0)
        .exclude(transfer_state__in=FINAL_STATES)
        .order_by("id")[:limit]
    )
    if not pending:
        return 0
    transfers = MerchantTransfers.for_app(_miniprogram())
    paid = 0
    for payout in pending:
        try:
            bill = transfers.query(out_bill_no=payout.out_bill_no)
        except PaymentUnavailable as exc:
            logger.warning("payout %s: transfer query failed: %s", payout.number, exc)
            continue
        if bill is None:  # never made at WeChat (the first answer was lost before it got there): paying sends it
            continue
        done = _transfer_record(payout_id=payout.pk, attempt=payout.transfer_attempt, bill=bill, actor_id=None)
        paid += done.status == CommissionPayout.Status.PAID
    return paid


def commission_clawback_record(*, entry: CommissionEntry, refund, amount_fen: int) -> CommissionClawback | None:
    """Commission a refund took back from an entry already in an approved or paid payout: owed back from the
    guide's next payout (once per refund)."""
    if amount_fen <= 0:
        return None
    clawback = CommissionClawback(guide_id=entry.guide_id, entry=entry, refund=refund, amount_fen=amount_fen)
    clawback.save()
    return clawback


def payouts_for_guide(guide: Guide):
    return CommissionPayout.objects.filter(guide=guide).prefetch_related("entries__order", "clawbacks").order_by("-id")

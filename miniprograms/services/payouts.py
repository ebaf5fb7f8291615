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


@transaction.atomic
def commission_payouts_prepare(*, month: date) -> list[CommissionPayout]:
    """Draft `month`'s payout of each guide with commission payable before the month ended and not in a payout
    yet, less their open clawbacks (as many as the commission covers; the rest waits for a later payout). A guide
    already drafted for the month is left as is: running it twice makes nothing twice."""
    month = month.replace(day=1)
    end = _month_end(month)
    due = CommissionEntry.objects.filter(status=CommissionEntry.Status.PAYABLE, payout__isnull=True, payable_at__lt=end)
    made = []
    for guide_id in sorted(set(due.values_list("guide_id", flat=True))):
        if CommissionPayout.objects.filter(guide_id=guide_id, month=month).exists():
            continue
        payout = CommissionPayout(guide_id=guide_id, month=month, number="P" + order_number_new())
        payout.save()
        due.filter(guide_id=guide_id).update(payout=payout)
        _totals(payout)
        room = payout.commission_fen
        for clawback in (
            CommissionClawback.objects.select_for_update().filter(guide_id=guide_id, payout__isnull=True).order_by("id")
        ):
            if clawback.amount_fen > room:
                break
            room -= clawback.amount_fen
            clawback.payout = payout
            clawback.save(update_fields=["payout"])
        _totals(payout)
        payout.full_clean(validate_constraints=False)
        payout.save(update_fields=["commission_fen", "clawback_fen", "amount_fen"])
        made.append(payout)
    return made


@transaction.atomic
def commission_payout_approve(*, payout: CommissionPayout, actor_id: int) -> CommissionPayout:
    """HQ approves a draft: its amount is recomputed (refunds since the draft) and fixed from now on; commission
    refunded after this is clawed back from a later payout."""
    payout = CommissionPayout.objects.select_for_update().get(pk=payout.pk)
    if payout.status != CommissionPayout.Status.DRAFT:
        raise Conflict("This payout was already approved.", code="payout_not_draft")
    _totals(payout)
    payout.status = CommissionPayout.Status.APPROVED
    payout.approved_by_id, payout.approved_at = actor_id, timezone.now()
    payout.save(
        update_fields=["commission_fen", "clawback_fen", "amount_fen", "status", "approved_by_id", "approved_at"]
    )
    return payout


@transaction.atomic
def _mark_paid(*, payout_id: int, actor_id: int, method: str, payment_no: str = "") -> CommissionPayout:
    payout = CommissionPayout.objects.select_for_update().get(pk=payout_id)
    if payout.status != CommissionPayout.Status.APPROVED:
        raise Conflict("Only an approved payout is paid.", code="payout_not_approved")
    payout.status, payout.method, payout.wechat_payment_no = CommissionPayout.Status.PAID, method, payment_no
    payout.paid_by_id, payout.paid_at, payout.last_error = actor_id, timezone.now(), ""
    payout.save(update_fields=["status", "method", "wechat_payment_no", "paid_by_id", "paid_at", "last_error"])
    return payout


def commission_payout_pay(*, payout: CommissionPayout, actor_id: int, method: str) -> CommissionPayout:
    """Pay an approved payout: `offline` records it paid; `wechat` transfers the amount to the guide's openid
    through the brand's WeChat Pay (v2) merchant, outside any transaction, keyed by the payout number. A WeChat
    failure keeps it approved with the error (502); paying again retries with the same number."""
    payout = CommissionPayout.objects.select_related("guide").get(pk=payout.pk)
    if payout.status != CommissionPayout.Status.APPROVED:
        raise Conflict("Only an approved payout is paid.", code="payout_not_approved")
    if method == CommissionPayout.Method.OFFLINE:
        return _mark_paid(payout_id=payout.pk, actor_id=actor_id, method=method)
    if method != CommissionPayout.Method.WECHAT:
        raise ApplicationError("Pay by wechat or offline.", fields={"method": ["wechat or offline"]})
    if not payout.guide.openid:
        raise Conflict("The guide has no openid to be paid at.", code="guide_without_openid")
    from miniprograms.payments import PaymentUnavailable, gateway_for
    from tenants.models import WeChatApp

    app = WeChatApp.objects.filter(brand__schema_name=connection.schema_name, kind=WeChatApp.Kind.MINIPROGRAM).first()
    if app is None:
        raise Conflict("The brand has no mini-program.", code="no_miniprogram")
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

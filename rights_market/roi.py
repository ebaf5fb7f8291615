"""What the market brought each side (read-only figures).

Issuer, per offer: redemptions, vouchers used at its stores, new members gained (claims that created a member
here), sales from those vouchers, cost per new member = (face value of used vouchers - settlement received)
/ new members (None without new members).
  Sales are the amounts recorded when a store takes the voucher (Voucher.order_amount_fen): there is no orders
  model yet; once shops/orders lands, sales of the claimed members over time should come from orders.

Accepting brand: points consumed, members who redeemed, and their purchases in the 30 days after redeeming
compared with members who did not redeem (same window: the 30 days after the first redemption).
  Purchases are counted from the points ledger's order earnings (idempotency key "order:<id>:earn"), the only
  order trace in a brand schema today; members with no points account count as zero purchases.
"""
from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Min, Q, Sum
from django_tenants.utils import schema_context

from rights_market.models import ClearingLine, Exchange

WINDOW = timedelta(days=30)


def roi_issuer(*, brand) -> list[dict]:
    """Per offer of `brand` (runs the voucher figures in `brand`'s schema)."""
    from rights_market.brandside.models import Voucher

    public = {row["offer_id"]: row for row in Exchange.objects.filter(issuer=brand, status=Exchange.Status.FULFILLED)
              .values("offer_id", "offer__title").annotate(redemptions=Count("id"))}
    received = dict(ClearingLine.objects.filter(payee=brand).values("offer_id").annotate(s=Sum("amount_fen"))
                    .values_list("offer_id", "s"))
    with schema_context(brand.schema_name):
        local = {row["offer_id"]: row for row in Voucher.objects.values("offer_id").annotate(
            used=Count("id", filter=Q(status=Voucher.Status.USED)),
            used_face_value_fen=Sum("face_value_fen", filter=Q(status=Voucher.Status.USED)),
            new_members=Count("id", filter=Q(claim_made_member=True)),
            sales_fen=Sum("order_amount_fen", filter=Q(status=Voucher.Status.USED)))}
    out = []
    for offer_id, row in sorted(public.items()):
        v = local.get(offer_id, {})
        new_members = v.get("new_members") or 0
        cost = (v.get("used_face_value_fen") or 0) - (received.get(offer_id) or 0)
        out.append({"offer_id": offer_id, "title": row["offer__title"], "redemptions": row["redemptions"],
                    "vouchers_used": v.get("used") or 0, "new_members": new_members,
                    "sales_fen": v.get("sales_fen") or 0, "settlement_received_fen": received.get(offer_id) or 0,
                    "cost_per_new_member_fen": (cost // new_members) if new_members else None})
    return out


def roi_accepting(*, brand) -> dict:
    """Figures for `brand` as the accepting side."""
    from members.models import Member
    from points.models import PointsEntry

    fulfilled = Exchange.objects.filter(accepting_brand=brand, status=Exchange.Status.FULFILLED)
    totals = fulfilled.aggregate(points=Sum("points"), members=Count("member_id", distinct=True),
                                 first=Min("fulfilled_at"))
    firsts = dict(fulfilled.values("member_id").annotate(t=Min("fulfilled_at")).values_list("member_id", "t"))
    redeemers = {"members": len(firsts), "purchases_30d": 0}
    others = {"members": 0, "purchases_30d": 0}
    if firsts:
        with schema_context(brand.schema_name):
            orders = PointsEntry.objects.filter(kind=PointsEntry.Kind.EARN, idempotency_key__startswith="order:")
            for member_id, at in firsts.items():
                redeemers["purchases_30d"] += orders.filter(member_id=member_id, created_at__gte=at,
                                                            created_at__lt=at + WINDOW).count()
            start = totals["first"]
            others["members"] = Member.objects.exclude(pk__in=firsts.keys()).count()
            others["purchases_30d"] = orders.exclude(member_id__in=firsts.keys()) \
                .filter(created_at__gte=start, created_at__lt=start + WINDOW).count()
    for group in (redeemers, others):
        group["purchases_per_member_30d"] = (round(group["purchases_30d"] / group["members"], 3)
                                             if group["members"] else None)
    return {"points_consumed": totals["points"] or 0, "members_redeemed": totals["members"] or 0,
            "redeemers": redeemers, "non_redeemers": others,
            "purchases_source": "points ledger order earnings (no orders model yet)"}

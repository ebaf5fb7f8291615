"""What the market brought each side, from real use (read-only figures).

Issuer, per offer (vouchers and orders read in the issuer's schema):
- redemptions: fulfilled exchanges of the offer;
- vouchers_used: vouchers taken, as a coupon at checkout or a store's POS, or by a store by code;
- sales_fen: what was paid on the orders the vouchers were used on (plus amounts stores recorded when taking a
  voucher by code);
- new_members: claims that created a member here; new_members_sales_30d_fen: what those members paid in orders
  (online and at the POS) in the 30 days after their claim;
- settlement_received_fen, and cost_per_new_member_fen = (face value of used vouchers - settlement received)
  / new members (None without new members).

Accepting brand (exchanges in public, orders in its own schema):
- redemptions, points_spent (fulfilled exchanges only: undone ones gave their points back), members_redeemed;
- members_came_back: members who redeemed and then paid an order here within 30 days after their first
  redemption; with their orders and sales in that window, beside members who did not redeem over the 30 days
  after the brand's first redemption.

"Paid" is an order paid and not refunded (status paid or refunding), as tier thresholds count it.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, DateTimeField, ExpressionWrapper, Min, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django_tenants.utils import schema_context

from rights_market.models import ClearingLine, Exchange

WINDOW = timedelta(days=30)


def _paid_orders():
    from miniprograms.models import Order

    return Order.objects.filter(status__in=[Order.Status.PAID, Order.Status.REFUNDING])


def _sales_in_window(member_ref: str, start_ref: str):
    """Subquery: what the member named by `member_ref` paid in the WINDOW after `start_ref`."""
    end = ExpressionWrapper(OuterRef(start_ref) + Value(WINDOW), output_field=DateTimeField())
    return Coalesce(
        Subquery(
            _paid_orders()
            .filter(member_id=OuterRef(member_ref), paid_at__gte=OuterRef(start_ref), paid_at__lt=end)
            .order_by()
            .values("member_id")
            .annotate(s=Sum("total_fen"))
            .values("s")[:1]
        ),
        0,
    )


def roi_issuer(*, brand) -> list[dict]:
    """Per offer of `brand` (runs the voucher and order figures in `brand`'s schema)."""
    from rights_market.brandside.models import Voucher

    public = {
        row["offer_id"]: row
        for row in Exchange.objects.filter(issuer=brand, status=Exchange.Status.FULFILLED)
        .values("offer_id", "offer__title")
        .annotate(redemptions=Count("id"))
    }
    received = dict(
        ClearingLine.objects.filter(payee=brand)
        .values("offer_id")
        .annotate(s=Sum("amount_fen"))
        .values_list("offer_id", "s")
    )
    used = Q(status=Voucher.Status.USED)
    paid_coupon_order = Q(coupon__orders__status__in=["paid", "refunding"])
    with schema_context(brand.schema_name):
        vouchers = Voucher.objects.annotate(new_member_sales=_sales_in_window("claimed_member_id", "claimed_at"))
        local = {
            row["offer_id"]: row
            for row in vouchers.values("offer_id")
            .order_by()
            .annotate(
                used=Count("id", filter=used),
                used_face_value_fen=Sum("face_value_fen", filter=used),
                recorded_sales_fen=Sum("order_amount_fen", filter=used),
                coupon_sales_fen=Sum("coupon__orders__total_fen", filter=used & paid_coupon_order),
                new_members=Count("id", filter=Q(claim_made_member=True)),
                new_members_sales_30d_fen=Sum("new_member_sales", filter=Q(claim_made_member=True)),
            )
        }
    out = []
    for offer_id, row in sorted(public.items()):
        v = local.get(offer_id, {})
        new_members = v.get("new_members") or 0
        cost = (v.get("used_face_value_fen") or 0) - (received.get(offer_id) or 0)
        out.append(
            {
                "offer_id": offer_id,
                "title": row["offer__title"],
                "redemptions": row["redemptions"],
                "vouchers_used": v.get("used") or 0,
                "sales_fen": (v.get("recorded_sales_fen") or 0) + (v.get("coupon_sales_fen") or 0),
                "new_members": new_members,
                "new_members_sales_30d_fen": v.get("new_members_sales_30d_fen") or 0,
                "settlement_received_fen": received.get(offer_id) or 0,
                "cost_per_new_member_fen": (cost // new_members) if new_members else None,
            }
        )
    return out


def roi_accepting(*, brand) -> dict:
    """Figures for `brand` as the accepting side."""
    from members.models import Member

    fulfilled = Exchange.objects.filter(accepting_brand=brand, status=Exchange.Status.FULFILLED)
    totals = fulfilled.aggregate(
        n=Count("id"), points=Sum("points"), members=Count("member_id", distinct=True), first=Min("fulfilled_at")
    )
    firsts = dict(fulfilled.values("member_id").annotate(t=Min("fulfilled_at")).values_list("member_id", "t"))
    redeemers = {"members": len(firsts), "orders_30d": 0, "sales_30d_fen": 0}
    others = {"members": 0, "orders_30d": 0, "sales_30d_fen": 0}
    came_back = 0
    if firsts:
        with schema_context(brand.schema_name):
            orders = _paid_orders()
            start = totals["first"]
            back = set()
            for member_id, paid_at, total in orders.filter(  # one query; each member's own window in Python
                member_id__in=firsts.keys(), paid_at__gte=start, paid_at__lt=max(firsts.values()) + WINDOW
            ).values_list("member_id", "paid_at", "total_fen"):
                first = firsts[member_id]
                if first <= paid_at < first + WINDOW:
                    back.add(member_id)
                    redeemers["orders_30d"] += 1
                    redeemers["sales_30d_fen"] += total
            came_back = len(back)
            others["members"] = Member.objects.exclude(pk__in=firsts.keys()).count()
            row = (
                orders.exclude(member_id__in=firsts.keys())
                .filter(member__isnull=False, paid_at__gte=start, paid_at__lt=start + WINDOW)
                .aggregate(n=Count("id"), s=Sum("total_fen"))
            )
            others["orders_30d"], others["sales_30d_fen"] = row["n"], row["s"] or 0
    for group in (redeemers, others):
        group["orders_per_member_30d"] = round(group["orders_30d"] / group["members"], 3) if group["members"] else None
    return {
        "redemptions": totals["n"],
        "points_spent": totals["points"] or 0,
        "members_redeemed": totals["members"] or 0,
        "members_came_back": came_back,
        "redeemers": redeemers,
        "non_redeemers": others,
    }

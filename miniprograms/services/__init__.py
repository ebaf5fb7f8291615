"""Every write of the shops app, by topic:

    catalog     categories, products, SKUs, shops, assortment, HQ push to many shops
    stock       the conditional UPDATEs that reserve and release stock
    orders      order_place, order_cancel, fulfilment
    payments    order_prepay, order_mark_paid_from_notification, order_mark_paid, orders_cancel_expired (which
                asks the gateway before cancelling)
    refunds     refund_request, refund_approve, refund_reject
    coupons     templates, claim / grant / auto-issue, use and return
    pos         store POS receipts (batched, idempotent per receipt number), POS API keys
    guides      share codes, touches, commission credit / reversal / payable

Locks are always taken in this order: Member -> CouponTemplate -> Order -> Refund -> ShopSku (ascending id)
-> Coupon -> CommissionEntry.
"""

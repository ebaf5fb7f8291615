"""Store mini-program shops: the brand catalog, each store's shops (assortment, prices, stock), orders and their
payment and refunds, coupons, POS receipts and guide attribution with commission. Brand schema.

Money is integer fen. Invariants are database constraints: stock never below zero, coupon issues never above
the total, one order per (store, POS receipt), one commission per (order, guide).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from members.models import Guide, Member, Store

# --- catalog ---------------------------------------------------------------------------------------------------


class Category(models.Model):
    name = models.CharField(max_length=50)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    sort = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort", "id"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    name = models.CharField(max_length=100)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, null=True, blank=True, related_name="products")
    description = models.TextField(blank=True)
    image_urls = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Sku(models.Model):
    """A sellable variant with the brand's list price. Shops may override the price."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="skus")
    code = models.CharField(max_length=64, unique=True)
    barcode = models.CharField(max_length=64, blank=True, db_index=True)
    attributes = models.JSONField(default=dict, blank=True)
    price_fen = models.PositiveIntegerField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(name="sku_price_positive", condition=Q(price_fen__gt=0))]

    def __str__(self) -> str:
        return self.code


# --- shops -----------------------------------------------------------------------------------------------------


class Shop(models.Model):
    """A store's shop in the brand's mini-program. A store may run several (one for coupons, one for promotions)."""

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="shops")
    name = models.CharField(max_length=100)
    is_open = models.BooleanField(default=True)
    theme = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class ShopSku(models.Model):
    """A SKU on a shop's shelf: its price there (None: the list price) and its stock. Stock changes are single
    conditional UPDATEs (services.stock); the check constraint is the last line of defence."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="assortment")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="shop_entries")
    price_fen = models.PositiveIntegerField(null=True, blank=True)
    stock = models.IntegerField(default=0)
    on_sale = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "sku"], name="shopsku_once"),
            models.CheckConstraint(name="shopsku_stock_not_negative", condition=Q(stock__gte=0)),
            models.CheckConstraint(
                name="shopsku_price_positive", condition=Q(price_fen__isnull=True) | Q(price_fen__gt=0)
            ),
        ]

    @property
    def effective_price_fen(self) -> int:
        return self.price_fen if self.price_fen is not None else self.sku.price_fen


# --- coupons ---------------------------------------------------------------------------------------------------


class CouponTemplate(models.Model):
    class Kind(models.TextChoices):
        AMOUNT_OFF = "amount_off", "Amount off"
        PERCENT_OFF = "percent_off", "Percent off"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_off_fen = models.PositiveIntegerField(default=0)
    percent_off = models.PositiveSmallIntegerField(default=0, help_text="10 = 10% off")
    threshold_fen = models.PositiveIntegerField(default=0, help_text="Minimum order subtotal.")
    products = models.ManyToManyField(Product, blank=True, related_name="+", help_text="Empty: every product.")
    shops = models.ManyToManyField(Shop, blank=True, related_name="+", help_text="Empty: every shop.")
    total_stock = models.PositiveIntegerField()
    issued_count = models.PositiveIntegerField(default=0)
    per_member_limit = models.PositiveSmallIntegerField(default=1)
    valid_hours = models.PositiveIntegerField(default=72, help_text="Validity of an issued coupon.")
    claimable = models.BooleanField(default=True, help_text="Members may claim it themselves.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(name="coupon_issued_within_stock", condition=Q(issued_count__lte=F("total_stock"))),
            models.CheckConstraint(name="coupon_percent_range", condition=Q(percent_off__lte=100)),
            models.CheckConstraint(
                name="coupon_kind_value",
                condition=(Q(kind="amount_off", amount_off_fen__gt=0) | Q(kind="percent_off", percent_off__gt=0)),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        USED = "used", "Used"
        EXPIRED = "expired", "Expired"

    class Source(models.TextChoices):
        CLAIM = "claim", "Claimed"
        GRANT = "grant", "Staff grant"
        AUTO = "auto", "Automatic"
        MARKET = "market", "Rights market"

    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="coupons")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    source = models.CharField(max_length=16, choices=Source.choices)
    # Automatic and staff issues carry a key (e.g. "live:12"): the same key never issues twice to a member.
    issue_key = models.CharField(max_length=100, null=True, blank=True)
    # A code the holder shows at a store's POS (rights market coupons carry their voucher's code).
    code = models.CharField(max_length=20, null=True, blank=True, unique=True)
    valid_until = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "member", "issue_key"],
                name="coupon_issue_once",
                condition=Q(issue_key__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["member", "status"], name="coupon_member_status_idx"),
            models.Index(fields=["created_at"], name="coupon_created_idx"),
            models.Index(fields=["used_at"], name="coupon_used_idx", condition=Q(used_at__isnull=False)),
        ]


# --- orders ----------------------------------------------------------------------------------------------------


class Order(models.Model):
    class Channel(models.TextChoices):
        ONLINE = "online", "Mini-program"
        POS = "pos", "Store POS"

    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", "Awaiting payment"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDING = "refunding", "Refund requested"
        REFUNDED = "refunded", "Refunded"

    class Fulfilment(models.TextChoices):
        PICKUP = "pickup", "Pick-up at the store"
        DELIVERY = "delivery", "Delivery"
        IN_STORE = "in_store", "Sold in store"

    class FulfilmentStatus(models.TextChoices):
        NONE = "none", "Not started"
        PREPARING = "preparing", "Preparing"
        READY_FOR_PICKUP = "ready_for_pickup", "Ready for pick-up"
        PICKED_UP = "picked_up", "Picked up"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"

    number = models.CharField(max_length=32, unique=True, help_text="Also WeChat Pay's out_trade_no.")
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.ONLINE)
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    guide = models.ForeignKey(Guide, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    # A coupon given back (order cancelled or refunded) can be used again: one live order per coupon, enforced by
    # the partial unique constraint below, while old orders keep their coupon as history.
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_PAYMENT)
    subtotal_fen = models.PositiveIntegerField()
    discount_fen = models.PositiveIntegerField(default=0)
    total_fen = models.PositiveIntegerField()
    # Refunded or being refunded (requests not rejected): moved by one conditional UPDATE per refund, and never
    # above what was paid (the order's total: a payment of any other amount is refused).
    refunded_fen = models.PositiveIntegerField(default=0)
    fulfilment = models.CharField(max_length=16, choices=Fulfilment.choices, default=Fulfilment.PICKUP)
    fulfilment_status = models.CharField(max_length=20, choices=FulfilmentStatus.choices, default=FulfilmentStatus.NONE)
    delivery_address = models.JSONField(default=dict, blank=True)
    # POS: the store's receipt number; non-member buyers by phone hash only (PIPL: no phone in clear here).
    receipt_no = models.CharField(max_length=64, null=True, blank=True)
    buyer_phone_hash = models.CharField(max_length=64, blank=True)
    appid = models.CharField(max_length=32, blank=True, help_text="Mini-program the order was placed in.")
    prepay_id = models.CharField(max_length=64, blank=True)
    # The gateway that created the order's WeChat payment, and the merchant it pays (sub_mchid for v3), set at
    # the first prepay: query, close, refunds and notifications use these, whatever the brand uses later.
    pay_gateway = models.CharField(max_length=16, blank=True)
    pay_mchid = models.CharField(max_length=32, blank=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["coupon"],
                name="order_coupon_one_live_order",
                condition=Q(coupon__isnull=False) & ~Q(status__in=["cancelled", "refunded"]),
            ),
            models.UniqueConstraint(
                fields=["store", "receipt_no"], name="order_receipt_once", condition=Q(receipt_no__isnull=False)
            ),
            models.CheckConstraint(
                name="order_total_is_subtotal_minus_discount",
                condition=Q(total_fen=F("subtotal_fen") - F("discount_fen")),
            ),
            models.CheckConstraint(name="order_refunded_within_paid", condition=Q(refunded_fen__lte=F("total_fen"))),
        ]
        indexes = [
            models.Index(fields=["member", "-id"], name="order_member_idx"),
            models.Index(fields=["store", "-id"], name="order_store_idx"),
            models.Index(fields=["status", "expires_at"], name="order_status_expiry_idx"),
            models.Index(fields=["guide", "-id"], name="order_guide_idx"),
            models.Index(fields=["paid_at"], name="order_paid_at_idx", condition=Q(paid_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    """A line with the price and discount as they were when the order was placed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    shop_sku = models.ForeignKey(ShopSku, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    product_name = models.CharField(max_length=100)
    sku_code = models.CharField(max_length=64)
    attributes = models.JSONField(default=dict, blank=True)
    unit_price_fen = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()
    discount_fen = models.PositiveIntegerField(default=0)
    total_fen = models.PositiveIntegerField()
    refunded_quantity = models.PositiveIntegerField(default=0, help_text="Refunded or being refunded.")
    commission_fen = models.PositiveIntegerField(
        default=0, help_text="The guide's commission on this line, at its own rate (set when it is credited)."
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(name="orderline_quantity_positive", condition=Q(quantity__gt=0)),
            models.CheckConstraint(
                name="orderline_refunded_within_quantity", condition=Q(refunded_quantity__lte=F("quantity"))
            ),
        ]


class OrderEvent(models.Model):
    """Status changes the member sees (placed, paid, ready for pick-up, shipped ...)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=32)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class Refund(models.Model):
    """One refund of an order: the whole of it, some lines (and quantities), or an amount. Several per order; their
    sum never exceeds what was paid (Order.refunded_fen). Each has its own number, WeChat Pay's out_refund_no, sent
    again unchanged on a retry so WeChat refunds it once.

    requested -> approved (money being sent; or, for a return of goods, waiting for them) -> succeeded;
    approved -> failed (WeChat refused or was unreachable) -> approved again (retry) ...; requested -> rejected."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUCCEEDED = "succeeded", "Refunded"
        FAILED = "failed", "Failed at WeChat"

    class Kind(models.TextChoices):
        REQUESTED = "requested", "Asked by the member"
        PAID_AFTER_CANCEL = "paid_after_cancel", "Automatic: paid after the order was cancelled"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REQUESTED)
    number = models.CharField(max_length=32, unique=True, help_text="WeChat Pay's out_refund_no.")
    amount_fen = models.PositiveIntegerField()
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    # The member sends the goods back: approval authorises the return; the money goes when the store has them.
    return_goods = models.BooleanField(default=False)
    goods_received_at = models.DateTimeField(null=True, blank=True)
    wechat_refund_id = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    decided_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # WeChat Pay v3 REFUND.ABNORMAL: the refund is applied in ekr (goods, points, commission) but the money did not
    # reach the member (their card was closed ...) and waits at WeChat until staff resolve it.
    abnormal_at = models.DateTimeField(null=True, blank=True)
    abnormal_resolved_at = models.DateTimeField(null=True, blank=True)
    abnormal_resolution = models.CharField(max_length=24, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["decided_at"], name="refund_decided_idx", condition=Q(status="succeeded")),
            models.Index(
                fields=["abnormal_at"],
                name="refund_abnormal_open_idx",
                condition=Q(abnormal_at__isnull=False, abnormal_resolved_at__isnull=True),
            ),
        ]


class RefundLine(models.Model):
    """How many of an order line a refund takes back, and the part of the refund that is theirs."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="refund_lines")
    quantity = models.PositiveIntegerField()
    amount_fen = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["refund", "order_line"], name="refundline_once"),
            models.CheckConstraint(name="refundline_quantity_positive", condition=Q(quantity__gt=0)),
        ]


# --- POS -------------------------------------------------------------------------------------------------------


class PosApiKey(models.Model):
    """A store system's key for POST /api/v1/pos/orders. Only the SHA-256 of the key is kept. A key records sales
    of its own store only, for members in its franchisee's scope; staff list and revoke keys, a few per store."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="pos_keys")
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    label = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by_id = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.store_id})"


# --- guides ----------------------------------------------------------------------------------------------------


class GuideShareCode(models.Model):
    """A mini-program code a guide shares: scene id -> (guide, shop or product)."""

    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="share_codes")
    scene = models.CharField(max_length=32, unique=True)
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)


class GuideTouch(models.Model):
    """A member opened the mini-program through a guide's code. The last touch within the window wins."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="touches")
    share_code = models.ForeignKey(GuideShareCode, on_delete=models.SET_NULL, null=True, related_name="+")
    touched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["member", "-touched_at"], name="guidetouch_member_idx")]


class CommissionRule(models.Model):
    """Commission in basis points of the line total, for one product or one category (a product rule wins)."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    category = models.OneToOneField(Category, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    rate_bp = models.PositiveIntegerField(help_text="500 = 5%")

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="commission_rule_one_target",
                condition=(
                    Q(product__isnull=False, category__isnull=True) | Q(product__isnull=True, category__isnull=False)
                ),
            ),
            models.CheckConstraint(name="commission_rate_range", condition=Q(rate_bp__lte=10000)),
        ]


class CommissionEntry(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending (return window open)"
        PAYABLE = "payable", "Payable"
        REVERSED = "reversed", "Reversed"

    guide = models.ForeignKey(Guide, on_delete=models.PROTECT, related_name="commissions")
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="commission")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    amount_fen = models.PositiveIntegerField()
    # Taken back by refunds, in proportion to what each refunded (REVERSED once all of it is).
    reversed_fen = models.PositiveIntegerField(default=0)
    # The monthly payout that paid it; taken back after that: a clawback from the guide's next payout.
    payout = models.ForeignKey(
        "CommissionPayout", on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    payable_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "payable_at"], name="commission_due_idx")]
        constraints = [
            models.CheckConstraint(
                name="commission_reversed_within_amount", condition=Q(reversed_fen__lte=F("amount_fen"))
            )
        ]


class CommissionPayout(models.Model):
    """What a guide is paid for a month: their payable commission not paid before, less clawbacks (commission
    refunded after it was paid). draft -> approved (by HQ; the amount is fixed) -> paid (WeChat Pay transfer to
    the guide's openid, or marked paid offline). The guide sees it as their statement."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"

    class Method(models.TextChoices):
        WECHAT = "wechat", "WeChat Pay transfer"
        OFFLINE = "offline", "Paid offline"

    guide = models.ForeignKey(Guide, on_delete=models.PROTECT, related_name="payouts")
    month = models.DateField(help_text="First day of the month (Asia/Shanghai).")
    number = models.CharField(max_length=32, unique=True, help_text="WeChat Pay's partner_trade_no.")
    commission_fen = models.PositiveIntegerField(default=0)
    clawback_fen = models.PositiveIntegerField(default=0)
    amount_fen = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    method = models.CharField(max_length=10, choices=Method.choices, blank=True)
    wechat_payment_no = models.CharField(max_length=64, blank=True)
    approved_by_id = models.BigIntegerField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_by_id = models.BigIntegerField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    # WeChat Pay v3 商家转账: the bill of the current attempt (out_bill_no from the number and the attempt; a new
    # attempt only after WeChat said FAIL), its state and what the guide confirms receipt with.
    transfer_attempt = models.PositiveSmallIntegerField(default=0)
    transfer_bill_no = models.CharField(max_length=64, blank=True)
    transfer_state = models.CharField(max_length=24, blank=True)
    transfer_package_info = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-month", "id"]
        constraints = [
            models.UniqueConstraint(fields=["guide", "month"], name="payout_once_per_guide_month"),
            models.CheckConstraint(
                name="payout_amount_is_commission_less_clawback",
                condition=Q(amount_fen=F("commission_fen") - F("clawback_fen")),
            ),
        ]

    @property
    def out_bill_no(self) -> str:
        return self.number if self.transfer_attempt <= 1 else f"{self.number}N{self.transfer_attempt}"


class CommissionClawback(models.Model):
    """Commission a refund took back after it had been paid out: deducted from the guide's next payout."""

    guide = models.ForeignKey(Guide, on_delete=models.PROTECT, related_name="+")
    entry = models.ForeignKey(CommissionEntry, on_delete=models.PROTECT, related_name="clawbacks")
    refund = models.OneToOneField(Refund, on_delete=models.PROTECT, null=True, related_name="+")
    amount_fen = models.PositiveIntegerField()
    payout = models.ForeignKey(
        CommissionPayout, on_delete=models.PROTECT, null=True, blank=True, related_name="clawbacks"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class NonMemberBuyer(models.Model):
    """Who bought when the buyer was not a member: one row per non-member order, written with the order
    (services.pos). The identity is the strongest one the sale carried: the payer's openid in the brand's
    mini-program, else the keyed hash of the phone given at the till, else the receipt itself (a buyer nobody can
    recognise again). Analytics counts distinct identities per store and day and checks which became members."""

    class Kind(models.TextChoices):
        OPENID = "openid", "Mini-program openid"
        PHONE = "phone", "Phone (keyed hash)"
        RECEIPT = "receipt", "Receipt only"

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="nonmember_buyer")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField(help_text="Asia/Shanghai date of the sale.")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    identity = models.CharField(max_length=100, help_text="openid, phone hash, or '<store id>:<receipt no>'.")
    bought_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["day", "store"], name="nonmember_buyer_day_idx")]


# --- HQ pushes to many shops -----------------------------------------------------------------------------------


class ShopPush(models.Model):
    """HQ putting a product (and optionally a price and a stock) on every shop, or on a list of shops, as a
    background job: shops are taken in id order in batches, each batch in one transaction with the progress, so a
    job killed midway resumes where it stopped and a batch is never applied twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="pushes")
    shop_ids = models.JSONField(null=True, blank=True, help_text="Null: every shop of the brand.")
    price_fen = models.PositiveIntegerField(null=True, blank=True)
    stock = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total_shops = models.PositiveIntegerField(default=0)
    done_shops = models.PositiveIntegerField(default=0)
    written = models.BigIntegerField(default=0)
    last_shop_id = models.BigIntegerField(default=0)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When its run was last sent to the workers (the stuck-push sweep reads it)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["sent_at"], name="push_unfinished_idx", condition=~models.Q(status="done")),
        ]
        constraints = [
            models.CheckConstraint(name="shoppush_progress_bounded", condition=Q(done_shops__lte=F("total_shops"))),
            models.CheckConstraint(
                name="shoppush_stock_not_negative", condition=Q(stock__isnull=True) | Q(stock__gte=0)
            ),
        ]

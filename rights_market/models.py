"""The rights market's public rows: catalogue, listings, exchanges (the cross-brand state machine), clearing and
statements, providers. Public schema.

Rules held by the database:
- A public row never has a foreign key to a brand's table. Members and vouchers are plain integers, named with the
  brand they live in (Exchange.accepting_brand + member_id; Exchange.issuer + fulfilment_ref).
- Offer.remaining_stock is in [0, total_stock] (CHECK); it changes only by conditional UPDATEs in services.
- MemberTake.taken <= limit_at_take (CHECK): the per-member limit, counted per (offer, brand, member).
- One clearing line per exchange (UNIQUE), one statement per brand pair and month (UNIQUE on the ordered pair),
  its payable amount the net of both directions (CHECK).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from core.crypto import EncryptedTextField


class Provider(models.Model):
    """A third-party supplier of virtual goods, spoken to by rights_market.providers.JsonHttpProvider."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=40, unique=True)
    base_url = models.URLField(max_length=300)
    api_key = EncryptedTextField(help_text="Shared HMAC key; encrypted at rest.")
    timeout_seconds = models.FloatField(default=5.0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                name="market_provider_timeout", condition=Q(timeout_seconds__gt=0) & Q(timeout_seconds__lte=60)
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Offer(models.Model):
    """A benefit an issuing brand puts in the catalogue."""

    class Kind(models.TextChoices):
        COUPON = "coupon", "Coupon (issuer's stores or shop)"
        GIFT = "gift", "Gift (issuer's stores)"
        VIRTUAL = "virtual", "Virtual good (provider)"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"

    issuer = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="market_offers")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    image_url = models.URLField(max_length=500, blank=True)
    face_value_fen = models.PositiveBigIntegerField(default=0)
    total_stock = models.PositiveIntegerField()
    remaining_stock = models.PositiveIntegerField()
    per_member_limit = models.PositiveSmallIntegerField(default=1)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    voucher_valid_days = models.PositiveSmallIntegerField(default=30, help_text="A voucher's life after issue.")
    min_tier_rank = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="The member's tier rank in the accepting brand must be at least this "
        "(members.CardLevel.rank); empty: any member, with or without a tier.",
    )
    eligible_cities = models.JSONField(
        default=list, blank=True, help_text="Cities of the member's home store; empty: any."
    )
    eligible_brand_ids = models.JSONField(default=list, blank=True, help_text="Accepting brands; empty: any.")
    settlement_price_fen = models.PositiveBigIntegerField(default=0, help_text="0: a pure traffic swap.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT, db_index=True)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, null=True, blank=True, related_name="offers")
    provider_sku = models.CharField(max_length=64, blank=True)
    source_ref = models.CharField(
        max_length=64, blank=True, help_text="The issuer's own object, e.g. 'coupon_template:12' (brand schema)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="market_offer_status_idx")]
        constraints = [
            models.CheckConstraint(
                name="market_offer_stock_in_range",
                condition=Q(remaining_stock__gte=0) & Q(remaining_stock__lte=F("total_stock")),
            ),
            models.CheckConstraint(name="market_offer_limit_gte_1", condition=Q(per_member_limit__gte=1)),
            models.CheckConstraint(
                name="market_offer_virtual_has_provider",
                condition=~Q(kind="virtual") | (Q(provider__isnull=False) & ~Q(provider_sku="")),
            ),
            models.CheckConstraint(
                name="market_offer_validity",
                condition=Q(valid_from__isnull=True) | Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
            ),
            models.UniqueConstraint(
                fields=["issuer", "source_ref"], condition=~Q(source_ref=""), name="market_offer_source_once"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Listing(models.Model):
    """An accepting brand shows an offer in its own mini-program at its own points price."""

    class Status(models.TextChoices):
        LISTED = "listed", "Listed"
        DELISTED = "delisted", "Delisted"

    brand = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="market_listings")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="listings")
    points_price = models.PositiveIntegerField()
    eligible_tier_ids = models.JSONField(
        default=list,
        blank=True,
        help_text="Ids of this brand's own tiers (members.CardLevel in its "
        "schema) whose members may redeem; empty: any.",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.LISTED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "offer"], name="market_listing_once"),
            models.CheckConstraint(name="market_listing_price_gt_0", condition=Q(points_price__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.offer_id} @ {self.brand_id} for {self.points_price}"


class Exchange(models.Model):
    """One redemption: the state machine row. See rights_market.services.exchanges for the steps.

    requested -> points_debited -> stock_taken -> fulfilled
        any of them -> undoing -> undone   (stock released and points given back to their own lots, with their expiry, as far as taken)
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        POINTS_DEBITED = "points_debited", "Points debited"
        STOCK_TAKEN = "stock_taken", "Stock taken"
        FULFILLED = "fulfilled", "Fulfilled"
        UNDOING = "undoing", "Undoing"
        UNDONE = "undone", "Undone"

    TERMINAL = (Status.FULFILLED, Status.UNDONE)

    accepting_brand = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="+")
    issuer = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="+")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="exchanges")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="exchanges")
    member_id = models.BigIntegerField(help_text="members.Member id in the accepting brand's schema.")
    request_key = models.CharField(max_length=64, help_text="The member's idempotency key for the request.")
    points = models.PositiveIntegerField()
    settlement_price_fen = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    requested_at = models.DateTimeField()
    points_debited_at = models.DateTimeField(null=True, blank=True)
    stock_taken_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    stock_released_at = models.DateTimeField(null=True, blank=True)
    points_refunded_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_reason = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Fulfilment attempts.")
    last_error = models.CharField(max_length=300, blank=True)
    fulfilment_ref = models.CharField(
        max_length=64, blank=True, help_text="'voucher:<id>' in the issuer's schema or 'provider:<reference>'."
    )
    fulfilment_code = EncryptedTextField(blank=True, help_text="Voucher or provider code; encrypted at rest.")
    updated_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["accepting_brand", "member_id", "-id"], name="market_exchange_member_idx"),
            models.Index(fields=["issuer", "-id"], name="market_exchange_issuer_idx"),
            models.Index(
                fields=["updated_at"], name="market_exchange_open_idx", condition=~Q(status__in=["fulfilled", "undone"])
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["accepting_brand", "member_id", "request_key"], name="market_exchange_request_once"
            ),
            models.CheckConstraint(name="market_exchange_points_gt_0", condition=Q(points__gt=0)),
            models.CheckConstraint(
                name="market_exchange_fulfilled_has_ref", condition=~Q(status="fulfilled") | ~Q(fulfilment_ref="")
            ),
            models.CheckConstraint(
                name="market_exchange_fulfilled_not_undone",
                condition=~Q(status="fulfilled")
                | (Q(stock_released_at__isnull=True) & Q(points_refunded_at__isnull=True)),
            ),
        ]

    def __str__(self) -> str:
        return f"exchange {self.pk} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class MemberTake(models.Model):
    """How many units of an offer one member of one brand holds: the per-member limit, as a CHECK."""

    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="+")
    brand = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="+")
    member_id = models.BigIntegerField()
    taken = models.PositiveIntegerField(default=0)
    limit_at_take = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["offer", "brand", "member_id"], name="market_take_once"),
            models.CheckConstraint(name="market_take_within_limit", condition=Q(taken__lte=F("limit_at_take"))),
        ]


class Statement(models.Model):
    """One brand pair's month (Asia/Shanghai), netted: what the lower-id brand owes the higher and what the
    higher owes the lower become one payable amount (`total_fen`, paid by `payer` to `payee`), with the lines
    behind it. Closed once per pair and month; a line arriving after its month was closed goes into the pair's
    next statement. Both brands confirm; ops marks it paid."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CONFIRMED = "confirmed", "Confirmed by both"
        PAID = "paid", "Paid"

    brand_low = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="+")
    brand_high = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="+")
    low_owes_fen = models.BigIntegerField(default=0, help_text="Lines where brand_low is the payer.")
    high_owes_fen = models.BigIntegerField(default=0, help_text="Lines where brand_high is the payer.")
    payer = models.ForeignKey(
        "tenants.Brand",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who pays the net amount (brand_low when it is 0).",
    )
    payee = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="+")
    month = models.DateField(help_text="First day of the month.")
    total_fen = models.BigIntegerField(default=0, help_text="The net payable amount.")
    line_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    payer_confirmed_at = models.DateTimeField(null=True, blank=True)
    payee_confirmed_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "id"]
        constraints = [
            models.UniqueConstraint(fields=["brand_low", "brand_high", "month"], name="market_statement_pair_once"),
            models.CheckConstraint(name="market_statement_pair_ordered", condition=Q(brand_low__lt=F("brand_high"))),
            models.CheckConstraint(
                name="market_statement_netted",
                condition=(
                    Q(
                        payer=F("brand_low"),
                        payee=F("brand_high"),
                        total_fen=F("low_owes_fen") - F("high_owes_fen"),
                        total_fen__gte=0,
                    )
                    | Q(
                        payer=F("brand_high"),
                        payee=F("brand_low"),
                        total_fen=F("high_owes_fen") - F("low_owes_fen"),
                        total_fen__gt=0,
                    )
                ),
            ),
            models.CheckConstraint(
                name="market_statement_confirmed_by_both",
                condition=Q(status="open")
                | (Q(payer_confirmed_at__isnull=False) & Q(payee_confirmed_at__isnull=False)),
            ),
            models.CheckConstraint(
                name="market_statement_paid_at", condition=~Q(status="paid") | Q(paid_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand_low_id}<->{self.brand_high_id} {self.month:%Y-%m}"


class ClearingLine(models.Model):
    """A fulfilled exchange: the accepting brand owes the issuer the settlement price."""

    exchange = models.OneToOneField(Exchange, on_delete=models.PROTECT, related_name="clearing_line")
    payer = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="+")
    payee = models.ForeignKey("tenants.Brand", on_delete=models.PROTECT, related_name="+")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="+")
    amount_fen = models.PositiveBigIntegerField()
    month = models.DateField(
        help_text="Month the exchange was fulfilled in; a line closed late is on a later month's statement."
    )
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, null=True, blank=True, related_name="lines")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["payer", "payee", "month"], name="market_line_pair_month_idx"),
            models.Index(fields=["month"], name="market_line_unsettled_idx", condition=Q(statement=None)),
        ]

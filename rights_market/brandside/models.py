"""The issuing brand's side of the market, in its own schema: the vouchers its offers were fulfilled with.

A voucher names its exchange by id (a public row) and is unique per exchange: creating it twice is impossible,
which is what makes the fulfilment step idempotent.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Voucher(models.Model):
    """A coupon or gift voucher of this brand, won by a member of another brand through the market."""

    class Status(models.TextChoices):
        ISSUED = "issued", "Issued"
        USED = "used", "Used"
        VOID = "void", "Void"

    exchange_id = models.BigIntegerField(unique=True, help_text="rights_market.Exchange id (public schema).")
    offer_id = models.BigIntegerField(db_index=True, help_text="rights_market.Offer id (public schema).")
    accepting_brand_id = models.BigIntegerField(help_text="Brand whose member redeemed it; never their member id.")
    code = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=100)
    kind = models.CharField(max_length=8)
    face_value_fen = models.PositiveBigIntegerField(default=0)
    valid_until = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ISSUED)
    # Filled when the holder claims it into this brand's mini-program: only what they give us by claiming.
    claimed_member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, null=True, blank=True, related_name="market_vouchers"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_made_member = models.BooleanField(default=False, help_text="The claim created a new member here.")
    used_at = models.DateTimeField(null=True, blank=True)
    used_store = models.ForeignKey("members.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    order_amount_fen = models.PositiveBigIntegerField(default=0, help_text="Sale the voucher was used on.")
    # Offers published from a coupon template: the template's stock is taken when the voucher is issued, and
    # claiming it makes a real coupon of this brand's shops (code = the voucher's), which it then follows.
    coupon_template = models.ForeignKey(
        "miniprograms.CouponTemplate", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    coupon = models.OneToOneField(
        "miniprograms.Coupon", on_delete=models.PROTECT, null=True, blank=True, related_name="market_voucher"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                name="market_voucher_used_at", condition=~Q(status="used") | Q(used_at__isnull=False)
            ),
            models.CheckConstraint(
                name="market_voucher_claim", condition=Q(claimed_member__isnull=True) | Q(claimed_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"voucher {self.code}"

"""Points: an append-only ledger per member, with expiry by lots. Brand schema.

Invariants (held by the database, checked by tests/points/test_properties.py):
- PointsAccount.balance >= 0 (CHECK) and balance == SUM(PointsEntry.amount) == SUM(PointsLot.remaining).
- PointsEntry rows are never updated or deleted (a trigger refuses it, migration 0002).
- PointsEntry.idempotency_key is unique within the brand (the schema is the brand).
- Every lot-consuming entry (redeem, expire, reverse, negative adjust) has PointsLotUse rows summing to -amount.
- A restore entry gives a debit back to the lots it took from (PointsLotReturn, one per lot use at most): its
  amount is what went back, its shortfall what could not (the lot had expired meanwhile).

Writes go through points.services only; rows here are never saved by views, admin or signals.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import ExpressionWrapper, F, Q


class PointsAccount(models.Model):
    """A member's balance. Created on the first entry. Changed only by conditional UPDATEs in points.services."""

    member = models.OneToOneField("members.Member", on_delete=models.PROTECT, related_name="points_account")
    balance = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()
    # Set (to the database's now()) by the earn that asked for the member's tier check, cleared by that check as its
    # first step: while set, an earn needs to ask for nothing (points_credit, migration 0007). Stale after a TTL.
    tier_check_asked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="points_account_balance_gte_0")]
        # the sweep of marks (members.tier_checks_run) reads the few marked accounts, not all of them
        indexes = [
            models.Index(
                fields=["tier_check_asked_at"],
                name="points_account_tier_mark",
                condition=Q(tier_check_asked_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"points of member {self.member_id}: {self.balance}"


class PointsEntry(models.Model):
    """One change of a balance. Append-only."""

    class Kind(models.TextChoices):
        EARN = "earn", "Earn"
        REDEEM = "redeem", "Redeem"
        ADJUST = "adjust", "Adjust"
        EXPIRE = "expire", "Expire"
        REVERSE = "reverse", "Reverse"
        RESTORE = "restore", "Restore to lots"

    # Indexes are chosen for the write path, each for a query: (member, -id) the member's ledger (and their earnings
    # by reference or since a date); reference the reversal of an order's points; a BRIN on created_at the reports
    # of a period (entries are appended in time order, so a few bytes per 32 pages serve them, and an insert costs
    # nothing there until the range is summarised); the idempotency key's UNIQUE constraint replays. No FK-only
    # indexes (entries are never deleted, so nothing looks them up by account or actor), and no LIKE index on the
    # key (Django adds one for `unique=True`; nothing searches keys by prefix).
    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="points_entries", db_index=False
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = models.BigIntegerField(help_text="Signed: positive credits, negative debits.")
    balance_after = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=128)  # unique: points_entry_idempotency_key (Meta.constraints)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the request's parameters.")
    reference = models.CharField(max_length=64, blank=True, help_text="e.g. the order id.")
    reason = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        help_text="Staff user behind an adjustment.",
    )
    shortfall = models.BigIntegerField(
        default=0,
        help_text="Reverse: points already spent, not reclaimed. Restore: points whose lot expired meanwhile.",
    )
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "points entries"
        indexes = [
            models.Index(fields=["member", "-id"], name="points_entry_member_id"),
            BrinIndex(fields=["created_at"], name="points_entry_created_brin", autosummarize=True, pages_per_range=32),
            models.Index(fields=["reference"], name="points_entry_reference", condition=~Q(reference="")),
        ]
        constraints = [
            # The name holds "idempotency_key": the ledger functions and points.services tell a replay by it.
            models.UniqueConstraint(fields=["idempotency_key"], name="points_entry_idempotency_key"),
            models.CheckConstraint(
                name="points_entry_sign_by_kind",
                condition=(
                    Q(kind="earn", amount__gt=0)
                    | Q(kind="redeem", amount__lt=0)
                    | Q(kind="expire", amount__lt=0)
                    | Q(kind="adjust", amount__lt=0)
                    | Q(kind="adjust", amount__gt=0)
                    | Q(kind="reverse", amount__lte=0)
                    | Q(kind="restore", amount__gte=0)
                ),
            ),
            models.CheckConstraint(
                name="points_entry_shortfall",
                condition=(Q(shortfall=0) | Q(kind="reverse", shortfall__gt=0) | Q(kind="restore", shortfall__gt=0)),
            ),
            models.CheckConstraint(name="points_entry_balance_after_gte_0", condition=Q(balance_after__gte=0)),
            models.CheckConstraint(
                name="points_entry_adjust_has_actor_reason",
                condition=(~Q(kind="adjust") | (Q(actor__isnull=False) & ~Q(reason=""))),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} (member {self.member_id})"


class PointsLot(models.Model):
    """Points credited by one entry (earn or positive adjust), spent oldest-expiry first, expired when due."""

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="lots", db_index=False)
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="lot")
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="None: never expires.")
    created_at = models.DateTimeField()
    # remaining > 0, kept by PostgreSQL. The partial indexes test this instead of `remaining`, so a debit that
    # leaves points in the lot changes no indexed column and is a HOT update (the table keeps room on each page
    # for it: fillfactor, migration 0006); only the debit that empties the lot touches the indexes.
    is_open = models.GeneratedField(
        expression=ExpressionWrapper(Q(remaining__gt=0), output_field=models.BooleanField()),
        output_field=models.BooleanField(),
        db_persist=True,
    )

    class Meta:
        indexes = [
            models.Index(fields=["account", "expires_at", "id"], name="points_lot_open", condition=Q(is_open=True)),
            models.Index(fields=["expires_at"], name="points_lot_due", condition=Q(is_open=True)),
        ]
        constraints = [
            models.CheckConstraint(
                name="points_lot_remaining_in_range", condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount"))
            ),
            models.CheckConstraint(name="points_lot_amount_gt_0", condition=Q(amount__gt=0)),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.amount}"


class PointsLotUse(models.Model):
    """How much of a lot an entry took. Append-only, like entries."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="lot_uses")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="uses", db_index=False)
    amount = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(name="points_lot_use_amount_gt_0", condition=Q(amount__gt=0))]


class PointsLotReturn(models.Model):
    """A lot use given back by a restore entry: `amount` went back into `lot` (with the lot's own expiry), unless
    the lot had expired by then (`restored` False: the points stay expired, counted in the entry's shortfall).
    One row per lot use at most: a debit is given back once, whatever the key. Append-only."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="lot_returns")
    use = models.OneToOneField(PointsLotUse, on_delete=models.PROTECT, related_name="returned")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="returns", db_index=False)
    amount = models.BigIntegerField()
    restored = models.BooleanField()

    class Meta:
        constraints = [models.CheckConstraint(name="points_lot_return_amount_gt_0", condition=Q(amount__gt=0))]


# --- Earning rules -------------------------------------------------------------------------------------------


class PointsPolicy(models.Model):
    """The brand's earning and expiry rules: one row (pk=1), created with defaults on first read.

    Rates and multipliers are integer percentages: points_per_yuan_pct=100 is 1 point per yuan paid, 10 is one
    point per 10 yuan; a multiplier of 200 doubles. See points.services.rules for the one rounding rule.
    """

    class ExpiryMode(models.TextChoices):
        MONTHS = "months", "N months after earning"
        END_OF_NEXT_YEAR = "end_of_next_year", "End of the year after earning"
        NEVER = "never", "Never"

    points_per_yuan_pct = models.PositiveIntegerField(default=100)
    expiry_mode = models.CharField(max_length=20, choices=ExpiryMode.choices, default=ExpiryMode.MONTHS)
    expiry_months = models.PositiveSmallIntegerField(default=12)
    signup_bonus_points = models.PositiveIntegerField(default=0)
    birthday_month_multiplier_pct = models.PositiveIntegerField(
        default=100, help_text="Applies to orders paid in the member's birthday month; 100 = no bonus."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "points policy"
        constraints = [
            models.CheckConstraint(name="points_policy_singleton", condition=Q(id=1)),
            models.CheckConstraint(name="points_policy_months", condition=Q(expiry_months__gte=1)),
            models.CheckConstraint(
                name="points_policy_birthday_pct", condition=Q(birthday_month_multiplier_pct__gte=100)
            ),
        ]

    def __str__(self) -> str:
        return "points policy"


class StoreEarnRate(models.Model):
    """A store's own points-per-yuan, instead of the brand default."""

    store_code = models.CharField(max_length=32, unique=True)
    points_per_yuan_pct = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.store_code}: {self.points_per_yuan_pct}%"


class Campaign(models.Model):
    """Extra points on dates (Asia/Shanghai), optionally only at some stores or for some tiers.

    Off until switched on; points.services.rules.earning_preview shows its effect on a sample order first.
    Campaigns do not stack: an order gets the highest multiplier among the campaigns that apply.
    """

    name = models.CharField(max_length=100)
    multiplier_pct = models.PositiveIntegerField(help_text="200 = double points.")
    starts_on = models.DateField()
    ends_on = models.DateField()
    store_codes = models.JSONField(default=list, blank=True, help_text="Empty: every store and online.")
    tier_codes = models.JSONField(default=list, blank=True, help_text="Empty: every tier.")
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "id"]
        constraints = [
            models.CheckConstraint(name="points_campaign_dates", condition=Q(ends_on__gte=F("starts_on"))),
            models.CheckConstraint(name="points_campaign_multiplier", condition=Q(multiplier_pct__gte=100)),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        for name in ("store_codes", "tier_codes"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(code, str) and code for code in value):
                raise ValidationError({name: "A list of codes (text)."})

"""Analytics: daily rollups of the brand's facts, in the brand's schema. Written only by analytics.rollup.

The flows of a rollup row are a function of the facts of its day (see analytics.metrics for each formula), so
rebuilding a day replaces its rows: running twice changes nothing, and a late fact (a refund, a POS batch sent
late) is absorbed by rebuilding the day it belongs to. The snapshots of BrandDay continue from the day before and
a rebuilt day passes its change on to the days after it, so they too equal their formulas after any run.

- StoreDay / GuideDay / BrandDay: additive flows of a day (sums over a range are the range's figure) and, on
  BrandDay, the point-in-time snapshots of that day's end (members total, active 30/90, churned, birthdays this
  month), continued from the day before (metrics.member_levels, metrics.member_snapshots) so that a day's
  rollup reads that day's rows, not every member.
- ActivityDay: one row per member per day they were active (an order, points earned or spent, a mini-program
  visit), with flags; the snapshots count distinct members over windows of it.
- MemberOnline: the first day a historical member was active online (historical-member online rate).
- MemberLast: each member's latest active day and latest purchase day in ActivityDay, kept by
  `metrics.activity_record` for the members whose day changed; the window snapshots of a day whose day before is
  not rolled up are indexed range counts over it.
- LastDayCount: how many members have each day as their MemberLast.last_active / last_order, kept with MemberLast
  in the same statement; the window snapshots of the newest days are sums of at most `lookback` of its rows, so a
  day's rollup costs in proportion to that day's rows, not to the members whose last day leaves a window.
- Watermark: the highest fact ids already seen, so a run finds late facts for old days without scanning them.
- AnalyticsSettings: the brand's churn windows.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class AnalyticsSettings(models.Model):
    """The brand's analytics settings: one row (pk=1), created with defaults on first read."""

    churn_lookback_days = models.PositiveSmallIntegerField(
        default=180, help_text="A churned member bought within this many days before ..."
    )
    churn_quiet_days = models.PositiveSmallIntegerField(
        default=90, help_text="... but not in the last this many days. Also the gap that makes a buyer reactivated."
    )
    recompute_days = models.PositiveSmallIntegerField(
        default=2, help_text="Each run rebuilds this many most recent days (today included)."
    )

    class Meta:
        verbose_name_plural = "analytics settings"
        constraints = [
            models.CheckConstraint(name="analytics_settings_singleton", condition=Q(id=1)),
            models.CheckConstraint(
                name="analytics_settings_windows",
                condition=Q(churn_lookback_days__gt=models.F("churn_quiet_days"))
                & Q(churn_quiet_days__gte=1)
                & Q(recompute_days__gte=1),
            ),
        ]


class Watermark(models.Model):
    source = models.CharField(max_length=32, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class SalesFigures(models.Model):
    """Sales columns shared by the three rollups. Orders count on the day they were paid and keep counting there
    after a refund (gross); refunds count on the day they succeeded (net = gross - refunds)."""

    orders_online = models.IntegerField(default=0)
    gmv_online_fen = models.BigIntegerField(default=0)
    orders_pos = models.IntegerField(default=0)
    gmv_pos_fen = models.BigIntegerField(default=0)
    orders_member = models.IntegerField(default=0)
    gmv_member_fen = models.BigIntegerField(default=0)
    orders_nonmember = models.IntegerField(default=0)
    gmv_nonmember_fen = models.BigIntegerField(default=0)
    refunds = models.IntegerField(default=0)
    refunds_fen = models.BigIntegerField(default=0)
    new_members = models.IntegerField(default=0)

    class Meta:
        abstract = True


CHANNEL_COLUMNS = {  # members.Member.Channel value -> rollup column
    "mini_program": "new_mini_program",
    "store_counter": "new_store_counter",
    "store_qr": "new_store_qr",
    "guide_share": "new_guide_share",
    "live_stream": "new_live_stream",
    "rights_market": "new_rights_market",
    "card": "new_card",
    "import": "new_import",
}


SALES_COLUMNS = (
    "orders_online",
    "gmv_online_fen",
    "orders_pos",
    "gmv_pos_fen",
    "orders_member",
    "gmv_member_fen",
    "orders_nonmember",
    "gmv_nonmember_fen",
    "refunds",
    "refunds_fen",
    "new_members",
)


class MemberFigures(models.Model):
    """New members by channel and the historical-member online counts (store of the member)."""

    new_mini_program = models.IntegerField(default=0)
    new_store_counter = models.IntegerField(default=0)
    new_store_qr = models.IntegerField(default=0)
    new_guide_share = models.IntegerField(default=0)
    new_live_stream = models.IntegerField(default=0)
    new_rights_market = models.IntegerField(default=0)
    new_card = models.IntegerField(default=0)
    new_import = models.IntegerField(default=0)
    historical_new = models.IntegerField(default=0, help_text="Historical members who joined that day.")
    historical_online = models.IntegerField(default=0, help_text="Historical members first active online that day.")
    nonmember_buyers = models.IntegerField(default=0)
    nonmember_buyers_joined = models.IntegerField(default=0)
    coupons_used = models.IntegerField(default=0)

    class Meta:
        abstract = True


STORE_COLUMNS = (
    SALES_COLUMNS
    + tuple(CHANNEL_COLUMNS.values())
    + ("nonmember_buyers", "nonmember_buyers_joined", "historical_new", "historical_online", "coupons_used")
)


class StoreDay(SalesFigures, MemberFigures):
    day = models.DateField()
    store_id = models.BigIntegerField()
    franchisee_id = models.BigIntegerField(null=True, blank=True, help_text="The store's franchisee when rolled up.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "store_id"], name="analytics_storeday_once")]
        indexes = [models.Index(fields=["store_id", "day"], name="analytics_storeday_store_idx")]


class GuideDay(SalesFigures):
    day = models.DateField()
    guide_id = models.BigIntegerField()
    store_id = models.BigIntegerField(help_text="The guide's store when rolled up.")
    franchisee_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "guide_id"], name="analytics_guideday_once")]
        indexes = [models.Index(fields=["guide_id", "day"], name="analytics_guideday_guide_idx")]


class StoreMonth(SalesFigures, MemberFigures):
    """StoreDay summed over a calendar month (moved by the difference whenever a day of it is rebuilt), so a year per store
    reads 12 rows a store instead of 365."""

    month = models.DateField(help_text="First day of the month.")
    store_id = models.BigIntegerField()
    franchisee_id = models.BigIntegerField(null=True, blank=True, help_text="As on the month's last rolled-up day.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "store_id"], name="analytics_storemonth_once")]


class GuideMonth(SalesFigures):
    month = models.DateField()
    guide_id = models.BigIntegerField()
    store_id = models.BigIntegerField()
    franchisee_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "guide_id"], name="analytics_guidemonth_once")]


class BrandDay(SalesFigures, MemberFigures):
    day = models.DateField(unique=True)
    # points and coupons
    points_earned = models.BigIntegerField(default=0)
    points_redeemed = models.BigIntegerField(default=0)
    points_expired = models.BigIntegerField(default=0)
    coupons_issued = models.IntegerField(default=0)
    # rights market, fulfilled that day
    market_accepted = models.IntegerField(default=0, help_text="Exchanges by our members (we accept).")
    market_accepted_points = models.BigIntegerField(default=0)
    market_issued = models.IntegerField(default=0, help_text="Exchanges of our offers by other brands' members.")
    market_issued_settlement_fen = models.BigIntegerField(default=0)
    # activity flows
    visitors = models.IntegerField(default=0, help_text="Members who opened the mini-program that day.")
    active_members = models.IntegerField(default=0)
    reactivated = models.IntegerField(default=0)
    birthday_buyers = models.IntegerField(
        default=0, help_text="Members buying in their birthday month, first time that month."
    )
    # snapshots at the day's end
    members_total = models.IntegerField(default=0)
    active_30d = models.IntegerField(default=0)
    active_90d = models.IntegerField(default=0)
    churned = models.IntegerField(default=0)
    birthdays_in_month = models.IntegerField(default=0)
    members_by_birth_month = ArrayField(
        models.IntegerField(),
        size=12,
        null=True,
        help_text="Members joined by the day's end with a birthday in January .. December (the level the next day "
        "continues from; see metrics.member_levels). NULL: not known, the next day counts.",
    )
    members_seen_id = models.BigIntegerField(null=True, help_text="The highest member id the levels counted.")
    levels_adjust = ArrayField(
        models.IntegerField(),
        size=13,
        null=True,
        help_text="On the first of a month: the monthly recount less the continued levels ([total, Jan .. Dec]).",
    )
    rolled_up_at = models.DateTimeField()

    class Meta:
        verbose_name = "analytics dashboard"  # its admin changelist is the HQ dashboard
        verbose_name_plural = "analytics dashboard"


class ActivityDay(models.Model):
    ORDER, POINTS, VISIT, ONLINE = 1, 2, 4, 8  # flags; ONLINE: a visit, a card activation or an online order

    member_id = models.BigIntegerField()
    day = models.DateField()
    flags = models.SmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "member_id"], name="analytics_activity_once")]
        indexes = [models.Index(fields=["member_id", "day"], name="analytics_activity_member_idx")]


class MemberOnline(models.Model):
    member_id = models.BigIntegerField(primary_key=True)
    day = models.DateField(db_index=True)


class MemberLast(models.Model):
    """A member's latest day in ActivityDay with an activity (flags & 7) and with a paid order (flags & ORDER);
    NULL when none. Derived only from ActivityDay (`metrics.member_last_refresh`)."""

    member_id = models.BigIntegerField(primary_key=True)
    last_active = models.DateField(null=True)
    last_order = models.DateField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["last_active"], name="analytics_memberlast_act_idx"),
            models.Index(fields=["last_order"], name="analytics_memberlast_ord_idx"),
        ]


class LastDayCount(models.Model):
    """Per day: the members whose MemberLast.last_active (`active`) and last_order (`ordered`) is that day. Derived
    only from MemberLast, in the statement that changes it (`metrics.member_last_refresh`); rows may hold zeros."""

    day = models.DateField(unique=True)
    active = models.IntegerField(default=0)
    ordered = models.IntegerField(default=0)

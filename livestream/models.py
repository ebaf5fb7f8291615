"""Live-stream commerce: rooms (on WeChat's mini-program live, or external players), the goods shown in them,
followers, the audience ekr measures itself (folded from Redis), orders and members a room brought, and the
post-show coupons. Brand schema.

Invariants in the database: one WeChat room id per room, one viewer row per (room, openid), one attribution per
order, one join per member, one follow record per (room, openid, action, time).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from members.models import Member, Store
from miniprograms.models import CouponTemplate, Order, Product, Shop


class LiveSettings(models.Model):
    """The brand's live settings (one row; see livestream.selectors.live_settings)."""

    store_managers_may_create_rooms = models.BooleanField(
        default=False, help_text="Store managers may create rooms for their own stores."
    )
    reactivation_lookback_days = models.PositiveIntegerField(
        default=180,
        help_text="A viewer is an old customer to reactivate when they paid no order this many days before the show.",
    )
    external_end_grace_minutes = models.PositiveIntegerField(
        default=30, help_text="An external room ends this long after its planned end."
    )

    class Meta:
        verbose_name_plural = "live settings"


class LiveRoom(models.Model):
    class Source(models.TextChoices):
        WECHAT_LIVE = "wechat_live", "WeChat mini-program live"
        EXTERNAL = "external", "External player (视频号, own player)"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (not on WeChat yet)"
        UPCOMING = "upcoming", "Not started"
        LIVE = "live", "Live"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"
        BANNED = "banned", "Banned"
        ABNORMAL = "abnormal", "Abnormal"
        EXPIRED = "expired", "Expired"

    class CouponState(models.TextChoices):
        NONE = "none", "Not due"
        ISSUING = "issuing", "Issuing"
        DONE = "done", "Issued"

    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WECHAT_LIVE)
    name = models.CharField(max_length=34)
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="Empty: a brand room (HQ)."
    )
    shop = models.ForeignKey(
        Shop, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", help_text="The shop viewers buy in."
    )
    anchor_name = models.CharField(max_length=30, blank=True)
    anchor_wechat = models.CharField(max_length=64, blank=True)
    room_type = models.PositiveSmallIntegerField(default=0, help_text="WeChat: 0 phone, 1 push stream.")
    close_like = models.BooleanField(default=False)
    close_goods = models.BooleanField(default=False)
    close_comment = models.BooleanField(default=False)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    external_url = models.URLField(max_length=500, blank=True)
    cover_media_id = models.CharField(max_length=128, blank=True)
    share_media_id = models.CharField(max_length=128, blank=True)
    feeds_media_id = models.CharField(max_length=128, blank=True)
    wechat_room_id = models.BigIntegerField(null=True, blank=True, unique=True)
    wechat_live_status = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    replay_urls = models.JSONField(default=list, blank=True)
    share_path = models.CharField(max_length=300, blank=True)
    min_watch_seconds = models.PositiveIntegerField(default=60)
    coupon_templates = models.ManyToManyField(CouponTemplate, blank=True, related_name="+")
    coupon_state = models.CharField(max_length=16, choices=CouponState.choices, default=CouponState.NONE)
    coupon_cursor = models.BigIntegerField(default=0, help_text="Viewer id the post-show issue has reached.")
    coupons_issued = models.PositiveIntegerField(default=0)
    push_state = models.CharField(max_length=32, blank=True, help_text="Last push to followers: its outcome.")
    last_error = models.CharField(max_length=300, blank=True)
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(name="liveroom_ends_after_start", condition=Q(end_at__gt=models.F("start_at"))),
            models.CheckConstraint(
                name="liveroom_external_has_url", condition=~Q(source="external") | ~Q(external_url="")
            ),
        ]
        indexes = [
            models.Index(fields=["status", "start_at"], name="liveroom_status_idx"),
            models.Index(fields=["store", "-id"], name="liveroom_store_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.UPCOMING, self.Status.LIVE, self.Status.PAUSED)


class LiveGoods(models.Model):
    """A product in the brand's WeChat live goods warehouse. Prices in fen here, yuan at WeChat."""

    class PriceType(models.IntegerChoices):
        FIXED = 1, "Price"
        RANGE = 2, "Price range"
        DISCOUNT = 3, "Original and discounted price"

    class Audit(models.IntegerChoices):
        NOT_REVIEWED = 0, "Not reviewed"
        IN_REVIEW = 1, "In review"
        APPROVED = 2, "Approved"
        REJECTED = 3, "Rejected"

    store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    name = models.CharField(max_length=14)
    cover_media_id = models.CharField(max_length=128, blank=True)
    price_type = models.PositiveSmallIntegerField(choices=PriceType.choices, default=PriceType.FIXED)
    price_fen = models.PositiveIntegerField()
    price2_fen = models.PositiveIntegerField(default=0)
    url = models.CharField(max_length=300, help_text="The shop's product page in the mini-program.")
    wechat_goods_id = models.BigIntegerField(null=True, blank=True, unique=True)
    audit_id = models.BigIntegerField(null=True, blank=True)
    audit_status = models.PositiveSmallIntegerField(choices=Audit.choices, default=Audit.NOT_REVIEWED)
    rooms = models.ManyToManyField(LiveRoom, blank=True, related_name="goods")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(name="livegoods_price_positive", condition=Q(price_fen__gt=0))]

    def __str__(self) -> str:
        return self.name


class LiveFollow(models.Model):
    """A wxalive_follow_notify event: someone followed (or unfollowed) a WeChat room."""

    room = models.ForeignKey(LiveRoom, on_delete=models.CASCADE, null=True, related_name="follows")
    wechat_room_id = models.BigIntegerField()
    openid = models.CharField(max_length=64)
    action = models.CharField(max_length=16)
    followed_at = models.DateTimeField()
    live_status = models.PositiveSmallIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["wechat_room_id", "openid", "action", "followed_at"], name="livefollow_once"
            )
        ]


class LiveViewer(models.Model):
    """One viewer of one room, folded from the room's event stream (livestream.services.audience)."""

    room = models.ForeignKey(LiveRoom, on_delete=models.CASCADE, related_name="viewers")
    openid = models.CharField(max_length=64)
    member = models.ForeignKey(Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    was_member = models.BooleanField(default=False, help_text="A member when first seen in the room.")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    watch_seconds = models.PositiveIntegerField(default=0)
    present = models.BooleanField(default=True, help_text="False after a leave: the next gap is not watch time.")
    likes = models.PositiveIntegerField(default=0)
    comments = models.PositiveIntegerField(default=0)
    shares = models.PositiveIntegerField(default=0)
    product_clicks = models.PositiveIntegerField(default=0)
    cart_adds = models.PositiveIntegerField(default=0)
    sharer_guide_id = models.BigIntegerField(null=True, blank=True)
    sharer_member_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "openid"], name="liveviewer_once")]
        indexes = [
            models.Index(fields=["openid"], name="liveviewer_openid_idx"),
            models.Index(fields=["room", "id"], name="liveviewer_room_id_idx"),
        ]


class LiveRoomStats(models.Model):
    """Room totals folded from its event stream, and the stream position folded so far (the fold's cursor:
    entries at or before it are never folded again)."""

    room = models.OneToOneField(LiveRoom, on_delete=models.CASCADE, primary_key=True, related_name="stats")
    folded_until = models.CharField(max_length=32, default="0-0")
    events = models.PositiveBigIntegerField(default=0)
    likes = models.PositiveBigIntegerField(default=0)
    comments = models.PositiveBigIntegerField(default=0)
    shares = models.PositiveBigIntegerField(default=0)
    product_clicks = models.PositiveBigIntegerField(default=0)
    cart_adds = models.PositiveBigIntegerField(default=0)
    peak_concurrent = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class LiveOrder(models.Model):
    """An order placed from a room (the buyer was in it within the attribution window), with the sharer."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(LiveRoom, on_delete=models.PROTECT, related_name="orders")
    sharer_guide_id = models.BigIntegerField(null=True, blank=True)
    sharer_member_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class LiveJoin(models.Model):
    """A member who registered from a room."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(LiveRoom, on_delete=models.PROTECT, related_name="joins")
    joined_at = models.DateTimeField(default=timezone.now)

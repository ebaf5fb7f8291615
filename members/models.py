"""The brand's people: franchisees, stores, guides, store managers, members, tiers, tags, the member card and
member imports. Brand schema. Invariants live in the database (unique and check constraints)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.crypto import EncryptedTextField, mask


class Franchisee(models.Model):
    """A business that runs franchise stores for the brand. Its store managers see only its stores."""

    name = models.CharField(max_length=100)
    contact_name = models.CharField(max_length=50, blank=True)
    wechatpay_sub_mchid = models.CharField(
        max_length=32,
        blank=True,
        validators=[RegexValidator(r"^[0-9]{6,32}$", "A sub-merchant id is digits.")],
        help_text="WeChat Pay v3: the franchisee's own sub-merchant; its stores' orders pay into it. "
        "Empty: the brand's default.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StaffProfile(models.Model):
    """What a brand user may do, granted explicitly: HQ (the whole brand) or store manager of one franchisee.

    Default deny: a user without a profile, or with role `none`, is not staff at all (core.permissions). HQ is
    never inferred from a missing row or an empty franchisee.
    """

    class Role(models.TextChoices):
        NONE = "none", "No access"
        HQ = "hq", "HQ (whole brand)"
        STORE_MANAGER = "store_manager", "Store manager (one franchisee)"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.NONE)
    franchisee = models.ForeignKey(Franchisee, on_delete=models.PROTECT, null=True, blank=True, related_name="managers")

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="staff_hq_has_no_franchisee", condition=~Q(role="hq") | Q(franchisee__isnull=True)
            ),
            models.CheckConstraint(
                name="staff_manager_has_franchisee", condition=~Q(role="store_manager") | Q(franchisee__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        if self.franchisee_id:
            return f"{self.user} @ {self.franchisee}"
        return f"{self.user} ({self.get_role_display()})"


class Store(models.Model):
    """A shop of the brand: run by HQ (direct) or by a franchisee (franchise)."""

    class Kind(models.TextChoices):
        DIRECT = "direct", "Direct"
        FRANCHISE = "franchise", "Franchise"

    class Status(models.TextChoices):
        PREPARING = "preparing", "Preparing"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    city = models.CharField(max_length=50, blank=True)
    region = models.CharField(max_length=50, blank=True)
    address = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DIRECT)
    franchisee = models.ForeignKey(Franchisee, on_delete=models.PROTECT, null=True, blank=True, related_name="stores")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    opened_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                name="store_franchise_has_franchisee",
                condition=(Q(kind="franchise", franchisee__isnull=False) | Q(kind="direct", franchisee__isnull=True)),
                violation_error_message="A franchise store needs a franchisee; a direct store has none.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Guide(models.Model):
    """A store's shopping guide (导购). Moves between stores; every move is kept in GuideStoreMove."""

    name = models.CharField(max_length=50)
    phone = EncryptedTextField(blank=True)
    employee_no = models.CharField(max_length=32, unique=True)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="guides")
    active = models.BooleanField(default=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="guide",
        help_text="The guide's own login: sees only their attributed orders and commission.",
    )
    openid = models.CharField(
        max_length=64, blank=True, help_text="The guide's openid in the brand's mini-program: commission is paid there."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.employee_no} {self.name}"

    @property
    def phone_masked(self) -> str:
        return mask(self.phone)


class GuideStoreMove(models.Model):
    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="moves")
    from_store = models.ForeignKey(Store, on_delete=models.PROTECT, null=True, related_name="+")
    to_store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    moved_at = models.DateTimeField(default=timezone.now)
    moved_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-moved_at", "-id"]


class CardLevel(models.Model):
    """A membership tier. A member reaches it when points earned OR amount spent in the trailing 12 months
    meets a threshold (a threshold of 0 is not a path unless both are 0: the entry tier)."""

    name = models.CharField(max_length=50)
    rank = models.PositiveSmallIntegerField(unique=True, help_text="Higher is better; the lowest is the entry tier.")
    threshold_points = models.PositiveIntegerField(default=0)
    threshold_spent_fen = models.PositiveBigIntegerField(default=0)
    points_multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=1)
    benefits = models.TextField(blank=True)

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(name="cardlevel_multiplier_positive", condition=Q(points_multiplier__gt=0)),
        ]

    def __str__(self) -> str:
        return self.name

    def is_met_by(self, *, earned_points_12m: int, spent_fen_12m: int) -> bool:
        if self.threshold_points == 0 and self.threshold_spent_fen == 0:
            return True
        return bool(
            (self.threshold_points and earned_points_12m >= self.threshold_points)
            or (self.threshold_spent_fen and spent_fen_12m >= self.threshold_spent_fen)
        )


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CardTemplate(models.Model):
    """The brand's WeChat member card template (card_id). The active one is the brand's card."""

    card_id = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=50, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="one_active_card_template"),
        ]

    def __str__(self) -> str:
        return self.title or self.card_id


class Member(models.Model):
    """A member of the brand, known by the openid of the brand's mini-program (imported members have none
    until they register with the same phone)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    class Gender(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        MALE = "male", "Male"
        FEMALE = "female", "Female"

    class Channel(models.TextChoices):
        MINI_PROGRAM = "mini_program", "Mini-program"
        STORE_COUNTER = "store_counter", "Store counter"
        STORE_QR = "store_qr", "Store QR code"
        GUIDE_SHARE = "guide_share", "Guide share"
        LIVE_STREAM = "live_stream", "Live stream"
        RIGHTS_MARKET = "rights_market", "Rights market"
        CARD = "card", "Member card"
        IMPORT = "import", "Import"

    class CardState(models.TextChoices):
        NONE = "none", "No card"
        RECEIVED = "received", "Received"
        SUBMITTED = "submitted", "Form submitted"
        ACTIVATED = "activated", "Activated"
        DELETED = "deleted", "Deleted"

    # openid, unionid and card_code are unique where set (member_*_uniq, partial): an imported member has none of
    # them, and a unique index over NULLs is an entry written per insert that no look-up reads (issue 17).
    openid = models.CharField(max_length=64, null=True, blank=True)
    unionid = models.CharField(max_length=64, null=True, blank=True)
    phone = EncryptedTextField(blank=True)
    phone_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    name = models.CharField(max_length=50, blank=True)
    gender = models.CharField(max_length=8, choices=Gender.choices, default=Gender.UNKNOWN)
    birthday = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    joined_at = models.DateTimeField(default=timezone.now)
    join_channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.MINI_PROGRAM)
    join_store = models.ForeignKey(
        Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )  # member_join_store_idx, partial
    join_guide = models.ForeignKey(
        Guide, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )  # member_join_guide_idx, partial
    # Home store: decides which franchisee's managers see the member. Follows the exclusive guide's store.
    # store, guide and tier are indexed by member_store_idx / member_guide_idx / member_tier_idx (field, id), which
    # serve every look-up a single-column index would: no second index to write on each insert (issue 17).
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, null=True, blank=True, related_name="members", db_index=False
    )
    guide = models.ForeignKey(
        Guide, on_delete=models.PROTECT, null=True, blank=True, related_name="members", db_index=False
    )
    tier = models.ForeignKey(
        CardLevel, on_delete=models.PROTECT, null=True, blank=True, related_name="members", db_index=False
    )
    tier_since = models.DateTimeField(null=True, blank=True)
    tier_review_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Trailing-12-month figures as last reported by points/orders (member_tier_evaluate).
    earned_points_12m = models.PositiveIntegerField(default=0)
    spent_fen_12m = models.PositiveBigIntegerField(default=0)
    tags = models.ManyToManyField(Tag, through="MemberTag", related_name="members", blank=True)
    card_id = models.CharField(max_length=64, blank=True)
    card_code = models.CharField(max_length=64, null=True, blank=True)
    card_state = models.CharField(max_length=16, choices=CardState.choices, default=CardState.NONE)
    card_activated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["openid"], condition=Q(openid__isnull=False), name="member_openid_uniq"),
            models.UniqueConstraint(fields=["unionid"], condition=Q(unionid__isnull=False), name="member_unionid_uniq"),
            models.UniqueConstraint(
                fields=["card_code"], condition=Q(card_code__isnull=False), name="member_card_code_uniq"
            ),
        ]
        # An index on a column most members leave NULL (no home store, guide, joining store or guide) holds only
        # the rows that have one: every look-up on it is an equality (`store_id = x`, `IN (...)`, the PROTECT and
        # foreign-key checks when a store or guide is deleted), which implies IS NOT NULL, so the partial index
        # serves it (tests/members/test_member_indexes.py), and inserting a member without one writes no entry.
        indexes = [
            # (field, id) ascending: a new member's entry goes at the right end of its value's range (the btree's
            # append path, pages filled), where (field, -id) put it at the left end (half-empty pages, a split
            # every few dozen inserts); `WHERE store_id = x ORDER BY id DESC` reads it backwards just as fast.
            models.Index(fields=["store", "id"], name="member_store_idx", condition=Q(store__isnull=False)),
            models.Index(fields=["guide", "id"], name="member_guide_idx", condition=Q(guide__isnull=False)),
            models.Index(fields=["join_store"], name="member_join_store_idx", condition=Q(join_store__isnull=False)),
            models.Index(fields=["join_guide"], name="member_join_guide_idx", condition=Q(join_guide__isnull=False)),
            models.Index(fields=["tier", "id"], name="member_tier_idx"),
            models.Index(fields=["joined_at"], name="member_joined_idx"),
            # analytics reads a day's card activations (activity of the day) without scanning every member
            models.Index(
                fields=["card_activated_at"],
                name="member_card_activated_idx",
                condition=Q(card_activated_at__isnull=False),
            ),
            # The staff search by the start of a name (LIKE 'x%'): pattern operators, so the index serves it under any
            # collation (a plain btree serves LIKE only under the C collation).
            models.Index(fields=["name"], name="member_name_idx", opclasses=["varchar_pattern_ops"]),
            # the few cards waiting for their activation (members.card_activations_send_stuck), not every member
            models.Index(fields=["updated_at"], name="member_card_submitted_idx", condition=Q(card_state="submitted")),
        ]

    def __str__(self) -> str:
        return f"member {self.pk}"

    @property
    def phone_masked(self) -> str:
        return mask(self.phone)

    @property
    def membership_number(self) -> str:
        return f"M{self.pk:010d}"


class MemberTag(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "tag"], name="member_tag_once")]
        indexes = [models.Index(fields=["tag", "member"], name="membertag_tag_idx")]


class GuideAssignment(models.Model):
    """History of a member's exclusive guide."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="guide_history")
    from_guide = models.ForeignKey(
        Guide, on_delete=models.PROTECT, null=True, related_name="+", db_index=False
    )  # guideassignment_from_guide_idx, partial: a first assignment has none
    to_guide = models.ForeignKey(Guide, on_delete=models.PROTECT, null=True, related_name="+")
    reason = models.CharField(max_length=100)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(
                fields=["from_guide"], name="guideassignment_from_guide_idx", condition=Q(from_guide__isnull=False)
            ),
        ]


class TierChange(models.Model):
    """Every change of a member's tier, with its reason."""

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial"
        UPGRADE = "upgrade", "Upgrade"
        DOWNGRADE = "downgrade", "Downgrade"
        MANUAL = "manual", "Manual"
        IMPORT = "import", "Import"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tier_history")
    from_level = models.ForeignKey(
        CardLevel, on_delete=models.PROTECT, null=True, related_name="+", db_index=False
    )  # tierchange_from_level_idx, partial: a member's first tier has none
    to_level = models.ForeignKey(CardLevel, on_delete=models.PROTECT, null=True, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["from_level"], name="tierchange_from_level_idx", condition=Q(from_level__isnull=False)
            ),
        ]


class MemberImport(models.Model):
    """A CSV of historical members, uploaded in chunks and run by Celery. Progress is committed batch by batch."""

    class Status(models.TextChoices):
        UPLOADING = "uploading", "Uploading"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Encoding(models.TextChoices):
        UTF8 = "utf-8", "UTF-8"
        GB18030 = "gb18030", "GB18030 / GBK"

    filename = models.CharField(max_length=200)
    encoding = models.CharField(max_length=16, choices=Encoding.choices, default=Encoding.UTF8)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADING)
    size_bytes = models.PositiveBigIntegerField(default=0)
    lines_received = models.PositiveIntegerField(
        default=0, help_text="Line breaks in the chunks uploaded so far: the rows to expect, for a progress bar."
    )
    rows_processed = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the whole import failed (bad encoding, missing columns).")
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When its run was last sent to the workers (the stuck-import sweep reads it)."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["queued_at"], name="import_queued_idx", condition=models.Q(status="queued")),
        ]


class MemberImportChunk(models.Model):
    member_import = models.ForeignKey(MemberImport, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()  # STORAGE EXTERNAL (members 0013): not compressed, CSV is written and read faster

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member_import", "seq"], name="import_chunk_once")]


class MemberImportError(models.Model):
    member_import = models.ForeignKey(MemberImport, on_delete=models.CASCADE, related_name="errors")
    row_number = models.PositiveIntegerField(help_text="Line of the CSV, the header being line 1.")
    message = models.CharField(max_length=300)

    class Meta:
        ordering = ["row_number", "id"]


class MemberVisit(models.Model):
    """A member opened the brand's mini-program on `day` (Asia/Shanghai): one row per member per day, written by
    members.services.visits.member_visit_record (INSERT ... ON CONFLICT DO NOTHING). Analytics reads it for
    activity and the historical-member online rate."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "day"], name="member_visit_once_a_day")]
        indexes = [models.Index(fields=["day", "member"], name="member_visit_day_idx")]

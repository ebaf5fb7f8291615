"""Staff API for members, tags and tiers. Scoped through members.selectors like every staff view."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from core.crypto import mask
from core.errors import NotFound
from core.outputs import datetime_text
from core.pagination import NewestFirstCursorPagination
from core.selectors import get_in_scope
from core.serializer_reuse import validated
from core.views import BrandHQAPIView, BrandStaffAPIView
from members.api.staff import GuideStoreOutput
from members.models import CardLevel, Member, Tag
from members.selectors import (
    MemberFilters,
    guide_get_for_scope,
    member_get_for_scope,
    member_rows,
    member_rows_by_phone,
    member_search,
    members_for_scope,
)
from members.services import (
    card_level_create,
    member_guide_assign,
    member_tier_set,
    members_tag,
    members_untag,
    tag_create,
)


class IdNameOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MemberListOutput(serializers.ModelSerializer):
    phone = serializers.CharField(source="phone_masked")
    tier = serializers.SerializerMethodField()
    store = serializers.SerializerMethodField()
    guide = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Member
        fields = [
            "id",
            "name",
            "phone",
            "gender",
            "birthday",
            "status",
            "joined_at",
            "join_channel",
            "tier",
            "store",
            "guide",
            "tags",
            "card_state",
        ]

    @extend_schema_field(IdNameOutput(allow_null=True))
    def get_tier(self, m: Member):
        return {"id": m.tier_id, "name": m.tier.name} if m.tier_id else None

    @extend_schema_field(GuideStoreOutput(allow_null=True))
    def get_store(self, m: Member):
        return {"id": m.store_id, "code": m.store.code, "name": m.store.name} if m.store_id else None

    @extend_schema_field(IdNameOutput(allow_null=True))
    def get_guide(self, m: Member):
        return {"id": m.guide_id, "name": m.guide.name} if m.guide_id else None

    def get_tags(self, m: Member) -> list[str]:
        return [t.name for t in m.tags.all()]


class MemberRowOutput(serializers.Serializer):
    """A row of members.selectors.member_rows, rendered as MemberListOutput renders a member."""

    reusable = True  # reads nothing but the row: one shared instance renders every page (core.serializer_reuse)

    id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.SerializerMethodField()
    gender = serializers.CharField()
    birthday = serializers.DateField()
    status = serializers.CharField()
    joined_at = serializers.DateTimeField()
    join_channel = serializers.CharField()
    tier = serializers.SerializerMethodField()
    store = serializers.SerializerMethodField()
    guide = serializers.SerializerMethodField()
    tags = serializers.ListField(child=serializers.CharField(), source="tag_names")
    card_state = serializers.CharField()

    def get_phone(self, row) -> str:
        return mask(row["phone"])

    def get_tier(self, row):
        return {"id": row["tier_id"], "name": row["tier__name"]} if row["tier_id"] else None

    def get_store(self, row):
        if not row["store_id"]:
            return None
        return {"id": row["store_id"], "code": row["store__code"], "name": row["store__name"]}

    def get_guide(self, row):
        return {"id": row["guide_id"], "name": row["guide__name"]} if row["guide_id"] else None


def member_row_out(row: dict) -> dict:
    """A row of members.selectors.member_rows as MemberRowOutput writes it, without a serializer field call per
    column (the staff look-up by phone renders one on every scan at the counter)."""
    birthday = row["birthday"]
    return {
        "id": row["id"],
        "name": row["name"],
        "phone": mask(row["phone"]),
        "gender": row["gender"],
        "birthday": None if birthday is None else birthday.isoformat(),
        "status": row["status"],
        "joined_at": datetime_text(row["joined_at"]),
        "join_channel": row["join_channel"],
        "tier": {"id": row["tier_id"], "name": row["tier__name"]} if row["tier_id"] else None,
        "store": {"id": row["store_id"], "code": row["store__code"], "name": row["store__name"]}
        if row["store_id"]
        else None,
        "guide": {"id": row["guide_id"], "name": row["guide__name"]} if row["guide_id"] else None,
        "tags": list(row["tag_names"]),
        "card_state": row["card_state"],
    }


class MemberSearchApi(BrandStaffAPIView):
    """GET /api/v1/staff/members?phone=&name=&tier=&store=&guide=&tag=&birthday_month=&joined_from=&joined_to=
    Cursor pages, newest first."""

    class FilterSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=20, required=False, allow_blank=True)  # empty: no filter
        name = serializers.CharField(max_length=50, required=False, allow_blank=True)
        tier = serializers.IntegerField(required=False, min_value=1)
        store = serializers.IntegerField(required=False, min_value=1)
        guide = serializers.IntegerField(required=False, min_value=1)
        tag = serializers.IntegerField(required=False, min_value=1)
        birthday_month = serializers.IntegerField(required=False, min_value=1, max_value=12)
        joined_from = serializers.DateField(required=False)
        joined_to = serializers.DateField(required=False)

    @extend_schema(responses=MemberListOutput(many=True))
    def get(self, request):
        phone = request.query_params.get("phone", "")
        if len(request.query_params) == 1 and phone.isascii() and phone.isdigit() and len(phone) <= 20:
            # The look-up by phone alone (the counter's scan): its first page in one fixed statement. More rows than
            # a page (none: the phone hash is unique) would take the general path for their cursor.
            page_size = NewestFirstCursorPagination.page_size
            rows = member_rows_by_phone(scope=self.scope, phone=phone, limit=page_size + 1)
            if len(rows) <= page_size:
                return Response({"next": None, "previous": None, "results": [member_row_out(r) for r in rows]})
        v = validated(self.FilterSerializer, request.query_params)  # 400 naming each bad field
        filters = MemberFilters(
            phone=v.get("phone"),
            name=v.get("name"),
            tier_id=v.get("tier"),
            store_id=v.get("store"),
            guide_id=v.get("guide"),
            tag_id=v.get("tag"),
            birthday_month=v.get("birthday_month"),
            joined_from=v.get("joined_from"),
            joined_to=v.get("joined_to"),
        )
        return self.paginated(member_rows(member_search(scope=self.scope, filters=filters)), MemberRowOutput)


class TierChangeOutput(serializers.Serializer):
    _from = serializers.IntegerField(allow_null=True, label="from")
    to = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()
    reason = serializers.CharField()
    at = serializers.DateTimeField()


class GuideChangeOutput(serializers.Serializer):
    _from = serializers.IntegerField(allow_null=True)
    to = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    at = serializers.DateTimeField()


# "from" is a Python keyword: the field is declared as `_from` and renamed.
for _output in (TierChangeOutput, GuideChangeOutput):
    _output._declared_fields["from"] = _output._declared_fields.pop("_from")


class MemberDetailOutput(MemberListOutput):
    join_store_id = serializers.IntegerField(allow_null=True)
    join_guide_id = serializers.IntegerField(allow_null=True)
    tier_history = TierChangeOutput(many=True)
    guide_history = GuideChangeOutput(many=True)

    class Meta(MemberListOutput.Meta):
        fields = [*MemberListOutput.Meta.fields, "join_store_id", "join_guide_id", "tier_history", "guide_history"]


class MemberDetailApi(BrandStaffAPIView):
    """GET /api/v1/staff/members/<id>: the member with tier history and guide history."""

    @extend_schema(responses=MemberDetailOutput)
    def get(self, request, member_id):
        member = member_get_for_scope(self.scope, member_id)
        data = MemberListOutput(member).data
        data["join_store_id"] = member.join_store_id
        data["join_guide_id"] = member.join_guide_id
        data["tier_history"] = [
            {"from": c.from_level_id, "to": c.to_level_id, "kind": c.kind, "reason": c.reason, "at": c.created_at}
            for c in member.tier_history.all()
        ]
        data["guide_history"] = [
            {"from": g.from_guide_id, "to": g.to_guide_id, "reason": g.reason, "at": g.changed_at}
            for g in member.guide_history.all()
        ]
        return Response(data)


class MemberGuideAssignApi(BrandStaffAPIView):
    """POST /api/v1/staff/members/<id>/guide {guide_id, reason}: change the exclusive guide."""

    class InputSerializer(serializers.Serializer):
        guide_id = serializers.IntegerField(allow_null=True)
        reason = serializers.CharField(max_length=100, default="reassigned by staff")

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        guide_id = serializers.IntegerField(allow_null=True)
        store_id = serializers.IntegerField(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def post(self, request, member_id):
        member = member_get_for_scope(self.scope, member_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        guide_id = data.validated_data["guide_id"]
        guide = guide_get_for_scope(self.scope, guide_id) if guide_id is not None else None
        member = member_guide_assign(
            member=member, guide=guide, reason=data.validated_data["reason"], changed_by_id=request.user.id
        )
        return Response({"id": member.pk, "guide_id": member.guide_id, "store_id": member.store_id})


class MemberTierSetApi(BrandHQAPIView):
    """POST /api/v1/staff/members/<id>/tier {tier_id, reason} (HQ): set a tier by hand."""

    class InputSerializer(serializers.Serializer):
        tier_id = serializers.IntegerField()
        reason = serializers.CharField(max_length=200)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        tier_id = serializers.IntegerField(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def post(self, request, member_id):
        member = member_get_for_scope(self.scope, member_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        level = CardLevel.objects.filter(pk=data.validated_data["tier_id"]).first()
        if level is None:
            raise NotFound(_("No such tier."), fields={"tier_id": ["unknown"]})
        member = member_tier_set(member=member, level=level, reason=data.validated_data["reason"])
        return Response({"id": member.pk, "tier_id": member.tier_id})


class TagOutput(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name"]


class TagListApi(BrandStaffAPIView):
    """GET /api/v1/staff/tags; POST creates one (HQ)."""

    hq_methods = ("POST",)

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=50)

    @extend_schema(responses=TagOutput(many=True))
    def get(self, request):
        return self.paginated(Tag.objects.all(), TagOutput)

    @extend_schema(responses={201: TagOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(TagOutput(tag_create(**data.validated_data)).data, status=201)


class TagMembersApi(BrandStaffAPIView):
    """POST /api/v1/staff/tags/<id>/members {member_ids, remove}: tag (or untag) members in bulk. Every id must be
    a member the caller may see, else 404 and nothing changes."""

    class InputSerializer(serializers.Serializer):
        member_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=5000)
        remove = serializers.BooleanField(default=False)

    class OutputSerializer(serializers.Serializer):
        added = serializers.IntegerField(required=False, help_text="When tagging: members newly tagged.")
        removed = serializers.IntegerField(required=False, help_text="When untagging (`remove`): members untagged.")

    @extend_schema(responses=OutputSerializer)
    def post(self, request, tag_id):
        tag = get_in_scope(Tag.objects.all(), tag_id, "tag")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = set(data.validated_data["member_ids"])
        visible = set(members_for_scope(self.scope).filter(id__in=wanted).values_list("id", flat=True))
        if visible != wanted:
            raise NotFound(
                _("Some members do not exist."),
                code="not_found",
                fields={"member_ids": [str(i) for i in sorted(wanted - visible)[:50]]},
            )
        if data.validated_data["remove"]:
            return Response({"removed": members_untag(tag=tag, member_ids=visible)})
        return Response({"added": members_tag(tag=tag, member_ids=visible)})


class CardLevelOutput(serializers.ModelSerializer):
    class Meta:
        model = CardLevel
        fields = ["id", "name", "rank", "threshold_points", "threshold_spent_fen", "points_multiplier", "benefits"]


class CardLevelListApi(BrandStaffAPIView):
    """GET /api/v1/staff/card-levels; POST (HQ) adds a tier."""

    hq_methods = ("POST",)
    pagination_class = None  # the whole list (a brand has a few tiers), not a page

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=50)
        rank = serializers.IntegerField(min_value=0, max_value=1000)
        threshold_points = serializers.IntegerField(min_value=0, default=0)
        threshold_spent_fen = serializers.IntegerField(min_value=0, default=0)
        points_multiplier = serializers.DecimalField(
            max_digits=4, decimal_places=2, min_value=Decimal("0.01"), default=Decimal("1")
        )
        benefits = serializers.CharField(required=False, default="", allow_blank=True)

    @extend_schema(responses=CardLevelOutput(many=True))
    def get(self, request):
        return Response(CardLevelOutput(CardLevel.objects.order_by("rank"), many=True).data)

    @extend_schema(responses={201: CardLevelOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(CardLevelOutput(card_level_create(**data.validated_data)).data, status=201)

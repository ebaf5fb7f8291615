"""Staff API for franchisees, stores and guides. Every queryset comes from a members.selectors *_for_scope
function: a store manager sees only their franchisee's rows; another franchisee's id is a 404."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from core.views import BrandHQAPIView, BrandStaffAPIView
from members.models import Franchisee, Guide, Store
from members.selectors import (
    guide_get_for_scope,
    guides_for_scope,
    members_for_scope,
    store_get_for_scope,
    stores_for_scope,
)
from members.services import (
    franchisee_create,
    guide_create,
    guide_login_grant,
    guide_members_reassign,
    guide_move,
    guide_update,
    store_create,
    store_update,
)


class FranchiseeOutput(serializers.ModelSerializer):
    class Meta:
        model = Franchisee
        fields = ["id", "name", "contact_name", "created_at"]


class FranchiseeListApi(BrandHQAPIView):
    """GET/POST /api/v1/staff/franchisees (HQ)."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        contact_name = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)

    @extend_schema(responses=FranchiseeOutput(many=True))
    def get(self, request):
        return self.paginated(Franchisee.objects.all(), FranchiseeOutput)

    @extend_schema(responses={201: FranchiseeOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(FranchiseeOutput(franchisee_create(**data.validated_data)).data, status=201)


class StoreOutput(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = ["id", "code", "name", "city", "region", "address", "kind", "franchisee_id", "status", "opened_on"]


class StoreListApi(BrandStaffAPIView):
    """GET /api/v1/staff/stores (scoped); POST creates a store (HQ)."""

    hq_methods = ("POST",)

    class InputSerializer(serializers.Serializer):
        code = serializers.RegexField(r"^[A-Za-z0-9_-]{1,32}$")
        name = serializers.CharField(max_length=100)
        kind = serializers.ChoiceField(choices=Store.Kind.choices, default=Store.Kind.DIRECT)
        franchisee_id = serializers.IntegerField(required=False, allow_null=True)
        city = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
        region = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
        address = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
        status = serializers.ChoiceField(choices=Store.Status.choices, default=Store.Status.OPEN)
        opened_on = serializers.DateField(required=False, allow_null=True, default=None)

    class FilterSerializer(serializers.Serializer):
        city = serializers.CharField(max_length=50, required=False, allow_blank=True)

    @extend_schema(responses=StoreOutput(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = stores_for_scope(self.scope)
        if filters.validated_data.get("city"):
            qs = qs.filter(city=filters.validated_data["city"])
        return self.paginated(qs, StoreOutput)

    @extend_schema(responses={201: StoreOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        franchisee_id = values.pop("franchisee_id", None)
        franchisee = None
        if franchisee_id is not None:
            franchisee = Franchisee.objects.filter(pk=franchisee_id).first()
            if franchisee is None:
                from core.errors import ApplicationError

                raise ApplicationError(_("Unknown franchisee."), fields={"franchisee_id": ["unknown"]})
        return Response(StoreOutput(store_create(franchisee=franchisee, **values)).data, status=201)


class StoreDetailApi(BrandStaffAPIView):
    """GET/PATCH /api/v1/staff/stores/<id>: managers edit day-to-day fields of their own stores."""

    class PatchSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        city = serializers.CharField(max_length=50, required=False, allow_blank=True)
        region = serializers.CharField(max_length=50, required=False, allow_blank=True)
        address = serializers.CharField(max_length=200, required=False, allow_blank=True)
        status = serializers.ChoiceField(choices=Store.Status.choices, required=False)
        opened_on = serializers.DateField(required=False, allow_null=True)
        kind = serializers.ChoiceField(choices=Store.Kind.choices, required=False)
        franchisee_id = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(responses=StoreOutput)
    def get(self, request, store_id):
        return Response(StoreOutput(store_get_for_scope(self.scope, store_id)).data)

    @extend_schema(responses=StoreOutput)
    def patch(self, request, store_id):
        store = store_get_for_scope(self.scope, store_id)
        data = self.PatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "franchisee_id" in changes:
            changes["franchisee"] = Franchisee.objects.filter(pk=changes.pop("franchisee_id")).first()
        store = store_update(store=store, hq=self.scope.is_hq, **changes)
        return Response(StoreOutput(store).data)


class GuideStoreOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class GuideOutput(serializers.ModelSerializer):
    phone = serializers.CharField(source="phone_masked")
    store = serializers.SerializerMethodField()

    class Meta:
        model = Guide
        fields = ["id", "name", "phone", "employee_no", "store", "active"]

    @extend_schema_field(GuideStoreOutput)
    def get_store(self, guide: Guide):
        return {"id": guide.store_id, "code": guide.store.code, "name": guide.store.name}


class GuideListApi(BrandStaffAPIView):
    """GET /api/v1/staff/guides (scoped; ?store=<id>); POST adds a guide to a store the caller may see."""

    class InputSerializer(serializers.Serializer):
        store_id = serializers.IntegerField()
        name = serializers.CharField(max_length=50)
        employee_no = serializers.RegexField(r"^[A-Za-z0-9_-]{1,32}$")
        phone = serializers.CharField(max_length=20, required=False, default="", allow_blank=True)

    class FilterSerializer(serializers.Serializer):
        store = serializers.IntegerField(required=False, min_value=1, help_text="A store id in the caller's scope.")
        active = serializers.ChoiceField(choices=["true", "false"], required=False)

    @extend_schema(responses=GuideOutput(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = guides_for_scope(self.scope)
        store = filters.validated_data.get("store")
        if store:
            qs = qs.filter(store_id=store_get_for_scope(self.scope, store).pk)
        if "active" in filters.validated_data:
            qs = qs.filter(active=filters.validated_data["active"] == "true")
        return self.paginated(qs, GuideOutput)

    @extend_schema(responses={201: GuideOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        store = store_get_for_scope(self.scope, values.pop("store_id"))
        guide = guide_create(store=store, created_by_id=request.user.id, **values)
        return Response(GuideOutput(guide).data, status=201)


class GuideMoveOutput(serializers.Serializer):
    from_store_id = serializers.IntegerField(allow_null=True)
    to_store_id = serializers.IntegerField()
    moved_at = serializers.DateTimeField()


class GuideDetailOutput(GuideOutput):
    moves = GuideMoveOutput(many=True)

    class Meta(GuideOutput.Meta):
        fields = [*GuideOutput.Meta.fields, "moves"]


class GuideDetailApi(BrandStaffAPIView):
    """GET/PATCH /api/v1/staff/guides/<id> (name, phone, active)."""

    class PatchSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=50, required=False)
        phone = serializers.CharField(max_length=20, required=False, allow_blank=True)
        active = serializers.BooleanField(required=False)

    @extend_schema(responses=GuideDetailOutput)
    def get(self, request, guide_id):
        guide = guide_get_for_scope(self.scope, guide_id)
        data = GuideOutput(guide).data
        data["moves"] = [
            {"from_store_id": m.from_store_id, "to_store_id": m.to_store_id, "moved_at": m.moved_at}
            for m in guide.moves.all()
        ]
        return Response(data)

    @extend_schema(responses=GuideOutput)
    def patch(self, request, guide_id):
        guide = guide_get_for_scope(self.scope, guide_id)
        data = self.PatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(GuideOutput(guide_update(guide=guide, **data.validated_data)).data)


class GuideMoveApi(BrandStaffAPIView):
    """POST /api/v1/staff/guides/<id>/move {store_id, members_follow}: the guide changes store."""

    class InputSerializer(serializers.Serializer):
        store_id = serializers.IntegerField()
        members_follow = serializers.BooleanField(default=False)

    @extend_schema(responses=GuideOutput)
    def post(self, request, guide_id):
        guide = guide_get_for_scope(self.scope, guide_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        store = store_get_for_scope(self.scope, data.validated_data["store_id"])
        guide = guide_move(
            guide=guide,
            to_store=store,
            moved_by_id=request.user.id,
            members_follow=data.validated_data["members_follow"],
        )
        return Response(GuideOutput(guide).data)


class GuideLoginApi(BrandStaffAPIView):
    """POST /api/v1/staff/guides/<id>/login {username, password}: the guide's own login (guide API only)."""

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, write_only=True)

    class OutputSerializer(serializers.Serializer):
        guide_id = serializers.IntegerField()
        username = serializers.CharField()

    @extend_schema(responses=OutputSerializer)
    def post(self, request, guide_id):
        guide = guide_get_for_scope(self.scope, guide_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        guide = guide_login_grant(guide=guide, **data.validated_data)
        return Response({"guide_id": guide.pk, "username": guide.user.username})


class GuideMembersReassignApi(BrandStaffAPIView):
    """POST /api/v1/staff/guides/<id>/reassign-members {to_guide_id, reason}: a departing guide's members, in
    bulk, to another guide (both within the caller's scope)."""

    class InputSerializer(serializers.Serializer):
        to_guide_id = serializers.IntegerField()
        reason = serializers.CharField(max_length=100, default="guide reassignment")

    class OutputSerializer(serializers.Serializer):
        moved = serializers.IntegerField(help_text="How many members moved.")

    @extend_schema(responses=OutputSerializer)
    def post(self, request, guide_id):
        from_guide = guide_get_for_scope(self.scope, guide_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        to_guide = guide_get_for_scope(self.scope, data.validated_data["to_guide_id"])
        moved = guide_members_reassign(
            members=members_for_scope(self.scope),
            from_guide=from_guide,
            to_guide=to_guide,
            reason=data.validated_data["reason"],
            changed_by_id=request.user.id,
        )
        return Response({"moved": moved}, status=status.HTTP_200_OK)

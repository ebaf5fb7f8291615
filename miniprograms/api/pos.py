"""POST /api/v1/pos/orders: store systems send receipts in batches with `Authorization: PosKey <key>`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from core.fields import BusinessDateTimeField
from core.views import BaseAPIView, BrandStaffAPIView
from members.selectors import store_get_for_scope
from miniprograms.api.outputs import PosKeyOut
from miniprograms.models import PosApiKey
from miniprograms.services.pos import (
    MAX_BATCH,
    pos_api_key_check,
    pos_api_key_create,
    pos_api_key_revoke,
    pos_orders_record,
)


class PosPrincipal:
    is_authenticated = True
    is_member = False
    is_active = True
    id = None

    def __init__(self, store):
        self.store = store


class PosKeyAuthentication(authentication.BaseAuthentication):
    keyword = "PosKey"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        store = pos_api_key_check(header[1].decode("ascii", "replace")) if len(header) == 2 else None
        if store is None:
            raise exceptions.AuthenticationFailed("Invalid POS key.")
        return PosPrincipal(store), None

    def authenticate_header(self, request):
        return self.keyword


class IsPos(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, PosPrincipal)


class PosOrdersApi(BaseAPIView):
    authentication_classes = [PosKeyAuthentication]
    permission_classes = [IsPos]

    class InputSerializer(serializers.Serializer):
        class Receipt(serializers.Serializer):
            class Line(serializers.Serializer):
                sku_code = serializers.CharField(max_length=64)
                quantity = serializers.IntegerField(min_value=1, max_value=9999)
                unit_price_fen = serializers.IntegerField(min_value=0)

            receipt_no = serializers.CharField(max_length=64)
            sold_at = BusinessDateTimeField(required=False)
            member_id = serializers.IntegerField(min_value=1, required=False)
            phone = serializers.CharField(max_length=20, required=False)
            openid = serializers.CharField(
                max_length=64, required=False, help_text="The payer's openid in the brand's mini-program, when known."
            )
            discount_fen = serializers.IntegerField(min_value=0, required=False, default=0)
            coupon_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
            lines = Line(many=True, allow_empty=False, max_length=200)

        receipts = Receipt(many=True, allow_empty=False, max_length=MAX_BATCH)

    class OutputSerializer(serializers.Serializer):
        class Result(serializers.Serializer):
            receipt_no = serializers.CharField()
            status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
            order_id = serializers.IntegerField(allow_null=True)
            error = serializers.DictField(allow_null=True, help_text="`{code, message}` when status is error.")

        results = Result(many=True, help_text="One per receipt, in the order sent.")

    @extend_schema(responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = pos_orders_record(store=request.user.store, receipts=data.validated_data["receipts"])
        return Response({"results": [r.__dict__ for r in results]})


class PosKeyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PosApiKey
        fields = ["id", "prefix", "label", "active", "created_at", "revoked_at"]


class PosKeyListOutputSerializer(serializers.Serializer):
    results = PosKeyOutputSerializer(many=True)


class PosKeyListCreateApi(BrandStaffAPIView):
    """GET: the store's POS keys (prefix only; the secret is never shown again). POST: a new key, shown once.
    Only stores in the caller's scope (another franchisee's store is a 404)."""

    class PosKeyInputSerializer(serializers.Serializer):
        label = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)

    @extend_schema(responses={200: PosKeyListOutputSerializer})
    def get(self, request, store_id: int):
        store = store_get_for_scope(self.scope, store_id)
        keys = PosApiKey.objects.filter(store=store).order_by("-id")
        return Response({"results": PosKeyOutputSerializer(keys, many=True).data})

    @extend_schema(request=PosKeyInputSerializer, responses={201: PosKeyOut})
    def post(self, request, store_id: int):
        store = store_get_for_scope(self.scope, store_id)
        data = self.PosKeyInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        raw = pos_api_key_create(store=store, label=data.validated_data["label"], created_by_id=request.user.id)
        return Response(PosKeyOut({"store_id": store.pk, "api_key": raw}).data, status=status.HTTP_201_CREATED)


class PosKeyRevokeApi(BrandStaffAPIView):
    """POST: revoke one of the store's POS keys; it is refused from then on."""

    @extend_schema(request=None, responses={200: PosKeyOutputSerializer})
    def post(self, request, store_id: int, key_id: int):
        store = store_get_for_scope(self.scope, store_id)
        key = pos_api_key_revoke(store=store, key_id=key_id, revoked_by_id=request.user.id)
        return Response(PosKeyOutputSerializer(key).data)

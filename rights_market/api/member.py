"""Mini-program members on their brand's host: what they can redeem, redeeming, their exchanges, and claiming a
market voucher of this brand."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.selectors import get_in_scope
from members.api.base import MemberAPIView
from rights_market import selectors
from rights_market.services.redeem import exchange_redeem


class MemberListingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    points_price = serializers.IntegerField()
    offer_id = serializers.IntegerField()
    title = serializers.CharField(source="offer.title")
    description = serializers.CharField(source="offer.description")
    image_url = serializers.CharField(source="offer.image_url")
    kind = serializers.CharField(source="offer.kind")
    face_value_fen = serializers.IntegerField(source="offer.face_value_fen")
    remaining_stock = serializers.IntegerField(source="offer.remaining_stock")
    issuer_name = serializers.CharField(source="offer.issuer.name")
    valid_until = serializers.DateTimeField(source="offer.valid_until", allow_null=True)


class ExchangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    offer_id = serializers.IntegerField()
    title = serializers.CharField(source="offer.title")
    points = serializers.IntegerField()
    status = serializers.CharField()
    undo_reason = serializers.CharField()
    requested_at = serializers.DateTimeField()
    fulfilled_at = serializers.DateTimeField(allow_null=True)
    code = serializers.SerializerMethodField()

    def get_code(self, exchange) -> str | None:
        return exchange.fulfilment_code if exchange.status == exchange.Status.FULFILLED else None


class MemberListingListApi(MemberAPIView):
    @extend_schema(responses=MemberListingOutput(many=True))
    def get(self, request):
        return self.paginated(selectors.listings_for_member(brand=request.tenant), MemberListingOutput)


class MemberExchangeListCreateApi(MemberAPIView):
    """GET: my exchanges. POST {listing_id, request_key}: redeem (202). A voucher of the issuer comes back
    fulfilled, with its code; a provider's code comes later (status stock_taken: poll the exchange). The same
    request_key again: 200 with the first exchange."""

    class InputSerializer(serializers.Serializer):
        listing_id = serializers.IntegerField()
        request_key = serializers.CharField(max_length=64)

    @extend_schema(responses=ExchangeOutput(many=True))
    def get(self, request):
        member = self.member_or_404()
        return self.paginated(selectors.exchanges_of_member(brand=request.tenant, member_id=member.pk), ExchangeOutput)

    @extend_schema(responses={202: ExchangeOutput, 200: ExchangeOutput})
    def post(self, request):
        member = self.member_or_404()
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exchange = exchange_redeem(brand=request.tenant, member=member, **data.validated_data)
        code = status.HTTP_200_OK if exchange.replayed else status.HTTP_202_ACCEPTED
        return Response(ExchangeOutput(exchange).data, status=code)


class MemberExchangeDetailApi(MemberAPIView):
    @extend_schema(responses=ExchangeOutput)
    def get(self, request, exchange_id: int):
        member = self.member_or_404()
        exchange = get_in_scope(
            selectors.exchanges_of_member(brand=request.tenant, member_id=member.pk),
            exchange_id,
            "exchange",
            code="exchange_not_found",
        )
        return Response(ExchangeOutput(exchange).data)


class VoucherClaimApi(MemberAPIView):
    """POST {code}: claim a market voucher of this brand into its mini-program (becoming a member here, with
    joining channel "rights market", if not one yet)."""

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=20)

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        title = serializers.CharField()
        status = serializers.CharField()
        valid_until = serializers.DateTimeField()
        member_id = serializers.IntegerField(source="claimed_member_id")
        new_member = serializers.BooleanField(source="claim_made_member")
        coupon_id = serializers.IntegerField()

    @extend_schema(responses=OutputSerializer)
    def post(self, request):
        from rights_market.brandside.services import voucher_claim

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        voucher = voucher_claim(
            code=data.validated_data["code"], openid=request.user.openid, unionid=request.user.unionid
        )
        return Response(self.OutputSerializer(voucher).data)


class _WonVoucherList(serializers.ListSerializer):
    """Renders a page of won-voucher exchanges: their vouchers are read in each issuer's schema, once per page."""

    def to_representation(self, data):
        exchanges = list(data)
        vouchers = selectors.vouchers_for_exchanges(exchanges)
        for exchange in exchanges:
            exchange.voucher = vouchers.get(exchange.pk)
        # a fulfilled voucher exchange always has its voucher; one missing is left out, never a 500
        return super().to_representation([e for e in exchanges if e.voucher is not None])


class WonVoucherOutput(serializers.Serializer):
    exchange_id = serializers.IntegerField(source="pk")
    issuer_id = serializers.IntegerField()
    issuer_name = serializers.CharField(source="issuer.name")
    title = serializers.CharField(source="voucher.title")
    code = serializers.CharField(source="voucher.code")
    face_value_fen = serializers.IntegerField(source="voucher.face_value_fen")
    valid_until = serializers.DateTimeField(source="voucher.valid_until")
    state = serializers.SerializerMethodField()
    claimed = serializers.SerializerMethodField()
    used_at = serializers.DateTimeField(source="voucher.used_at", allow_null=True)

    class Meta:
        list_serializer_class = _WonVoucherList

    def get_state(self, exchange) -> str:
        return selectors.voucher_state(exchange.voucher)

    def get_claimed(self, exchange) -> bool:
        return exchange.voucher.claimed_member_id is not None


class ClaimedVoucherOutput(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    face_value_fen = serializers.IntegerField()
    valid_until = serializers.DateTimeField()
    state = serializers.SerializerMethodField()
    coupon_id = serializers.IntegerField(allow_null=True)
    used_at = serializers.DateTimeField(allow_null=True)

    def get_state(self, voucher) -> str:
        return selectors.voucher_state(voucher)


class MemberWonVoucherListApi(MemberAPIView):
    """GET: the market vouchers I won on this brand's host (as the accepting brand), newest first: code and state
    as the issuer sees it now."""

    @extend_schema(responses=WonVoucherOutput(many=True))
    def get(self, request):
        member = self.member_or_404()
        return self.paginated(
            selectors.voucher_exchanges_of_member(brand=request.tenant, member_id=member.pk), WonVoucherOutput
        )


class MemberClaimedVoucherListApi(MemberAPIView):
    """GET: the market vouchers I claimed on this brand's host (as the issuing brand), newest first, with the
    coupon to use at checkout or show at a store's POS."""

    @extend_schema(responses=ClaimedVoucherOutput(many=True))
    def get(self, request):
        member = self.member_or_404()
        return self.paginated(selectors.vouchers_claimed_by(member_id=member.pk), ClaimedVoucherOutput)

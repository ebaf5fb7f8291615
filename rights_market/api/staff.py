"""Brand staff on their own host: publishing (issuer), browsing and listing (accepting), their side of
exchanges and statements, ROI, and stores taking vouchers. Each view acts for `request.tenant` only."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.errors import NotFound
from core.fields import BusinessDateTimeField
from core.views import BrandHQAPIView, BrandStaffAPIView
from rights_market import roi, selectors
from rights_market.models import Offer
from rights_market.services import catalogue, settlement


class OfferTermsSerializer(serializers.ModelSerializer):
    """What the market shows of an offer: terms and remaining stock, nothing of the issuer's sales."""

    issuer_name = serializers.CharField(source="issuer.name")

    class Meta:
        model = Offer
        fields = [
            "id",
            "issuer_id",
            "issuer_name",
            "kind",
            "title",
            "description",
            "image_url",
            "face_value_fen",
            "remaining_stock",
            "per_member_limit",
            "valid_from",
            "valid_until",
            "min_tier_rank",
            "eligible_cities",
            "settlement_price_fen",
            "status",
        ]


class OwnOfferSerializer(serializers.ModelSerializer):
    class Meta:
        model = Offer
        fields = [
            "id",
            "kind",
            "title",
            "description",
            "image_url",
            "face_value_fen",
            "total_stock",
            "remaining_stock",
            "per_member_limit",
            "valid_from",
            "valid_until",
            "voucher_valid_days",
            "min_tier_rank",
            "eligible_cities",
            "eligible_brand_ids",
            "settlement_price_fen",
            "status",
            "provider_id",
            "provider_sku",
            "source_ref",
            "created_at",
        ]


class OfferInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Offer.Kind.choices, default=Offer.Kind.COUPON)
    title = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    image_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    face_value_fen = serializers.IntegerField(min_value=0, default=0)
    total_stock = serializers.IntegerField(min_value=1, max_value=10_000_000)
    per_member_limit = serializers.IntegerField(min_value=1, max_value=100, default=1)
    valid_from = BusinessDateTimeField(required=False, allow_null=True)
    valid_until = BusinessDateTimeField(required=False, allow_null=True)
    voucher_valid_days = serializers.IntegerField(min_value=1, max_value=3650, default=30)
    min_tier_rank = serializers.IntegerField(min_value=0, max_value=32767, required=False, allow_null=True)
    eligible_cities = serializers.ListField(child=serializers.CharField(max_length=50), max_length=200, default=list)
    eligible_brand_ids = serializers.ListField(child=serializers.IntegerField(), max_length=500, default=list)
    settlement_price_fen = serializers.IntegerField(min_value=0, default=0)
    provider_slug = serializers.CharField(max_length=40, required=False, allow_blank=True)
    provider_sku = serializers.CharField(max_length=64, required=False, allow_blank=True)
    source_ref = serializers.CharField(max_length=64, required=False, allow_blank=True)


class OfferListCreateApi(BrandHQAPIView):
    """GET: the brand's own offers (with totals). POST: publish one offer, live at once."""

    @extend_schema(responses=OwnOfferSerializer(many=True))
    def get(self, request):
        return self.paginated(selectors.offers_of_issuer(brand=request.tenant), OwnOfferSerializer)

    @extend_schema(request=OfferInput, responses={201: OwnOfferSerializer})
    def post(self, request):
        data = OfferInput(data=request.data)
        data.is_valid(raise_exception=True)
        offer = catalogue.offer_publish(issuer=request.tenant, **data.validated_data)
        return Response(OwnOfferSerializer(offer).data, status=status.HTTP_201_CREATED)


class OfferBatchPublishApi(BrandHQAPIView):
    """POST: one click publishes all chosen coupon templates (all or none): either the brand's own coupon
    templates by id (`coupon_template_ids`, with an optional settlement price), or offers spelled out in full
    (`templates`)."""

    class InputSerializer(serializers.Serializer):
        templates = OfferInput(many=True, allow_empty=False, max_length=100, required=False)
        coupon_template_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=100, required=False
        )
        settlement_price_fen = serializers.IntegerField(min_value=0, default=0)
        stock_per_template = serializers.IntegerField(min_value=1, required=False)

        def validate(self, attrs):
            if bool(attrs.get("templates")) == bool(attrs.get("coupon_template_ids")):
                raise serializers.ValidationError("Give either coupon_template_ids or templates.")
            return attrs

    @extend_schema(responses={201: OwnOfferSerializer(many=True)})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        if given.get("coupon_template_ids"):
            offers = catalogue.offers_publish_coupon_templates(
                issuer=request.tenant,
                template_ids=given["coupon_template_ids"],
                settlement_price_fen=given["settlement_price_fen"],
                stock_per_template=given.get("stock_per_template"),
            )
        else:
            offers = catalogue.offers_publish_batch(issuer=request.tenant, templates=given["templates"])
        return Response(OwnOfferSerializer(offers, many=True).data, status=status.HTTP_201_CREATED)


class OfferPauseApi(BrandHQAPIView):
    """POST: a live offer stops being redeemable until resumed."""

    @extend_schema(request=None, responses=OwnOfferSerializer)
    def post(self, request, offer_id: int):
        return Response(OwnOfferSerializer(catalogue.offer_pause(issuer=request.tenant, offer_id=offer_id)).data)


class OfferResumeApi(BrandHQAPIView):
    """POST: a paused (or draft) offer goes live."""

    @extend_schema(request=None, responses=OwnOfferSerializer)
    def post(self, request, offer_id: int):
        return Response(OwnOfferSerializer(catalogue.offer_resume(issuer=request.tenant, offer_id=offer_id)).data)


class OfferEndApi(BrandHQAPIView):
    """POST: the offer ends for good."""

    @extend_schema(request=None, responses=OwnOfferSerializer)
    def post(self, request, offer_id: int):
        return Response(OwnOfferSerializer(catalogue.offer_end(issuer=request.tenant, offer_id=offer_id)).data)


class OfferRestockApi(BrandHQAPIView):
    class InputSerializer(serializers.Serializer):
        add = serializers.IntegerField(min_value=1, max_value=10_000_000)

    @extend_schema(responses=OwnOfferSerializer)
    def post(self, request, offer_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        offer = catalogue.offer_restock(issuer=request.tenant, offer_id=offer_id, add=data.validated_data["add"])
        return Response(OwnOfferSerializer(offer).data)


class CatalogueApi(BrandHQAPIView):
    """GET: live offers of other brands this brand may list."""

    @extend_schema(responses=OfferTermsSerializer(many=True))
    def get(self, request):
        return self.paginated(selectors.catalogue_for_brand(brand=request.tenant), OfferTermsSerializer)


class ListingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    points_price = serializers.IntegerField()
    eligible_tier_ids = serializers.ListField(child=serializers.IntegerField())
    status = serializers.CharField()
    offer = OfferTermsSerializer()


class ListingListCreateApi(BrandHQAPIView):
    class InputSerializer(serializers.Serializer):
        offer_id = serializers.IntegerField()
        points_price = serializers.IntegerField(min_value=1, max_value=100_000_000)
        eligible_tier_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), max_length=50, required=False, default=list
        )

    @extend_schema(responses=ListingOutput(many=True))
    def get(self, request):
        return self.paginated(selectors.listings_of_brand(brand=request.tenant), ListingOutput)

    @extend_schema(responses={201: ListingOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing = catalogue.listing_create(brand=request.tenant, **data.validated_data)
        return Response(ListingOutput(listing).data, status=status.HTTP_201_CREATED)


class ListingDelistApi(BrandHQAPIView):
    @extend_schema(request=None, responses=ListingOutput)
    def post(self, request, listing_id: int):
        listing = catalogue.listing_delist(brand=request.tenant, listing_id=listing_id)
        return Response(ListingOutput(listing).data)


class AcceptingExchangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    member_id = serializers.IntegerField()
    offer_id = serializers.IntegerField()
    offer_title = serializers.CharField(source="offer.title")
    issuer_id = serializers.IntegerField()
    points = serializers.IntegerField()
    status = serializers.CharField()
    undo_reason = serializers.CharField()
    requested_at = serializers.DateTimeField()
    fulfilled_at = serializers.DateTimeField(allow_null=True)


class IssuingExchangeOutput(serializers.Serializer):
    """An exchange of the issuer's offer as the issuer sees it: no member ids."""

    id = serializers.IntegerField()
    offer_id = serializers.IntegerField()
    offer_title = serializers.CharField(source="offer.title")
    accepting_brand_id = serializers.IntegerField()
    settlement_price_fen = serializers.IntegerField()
    status = serializers.CharField()
    requested_at = serializers.DateTimeField()
    fulfilled_at = serializers.DateTimeField(allow_null=True)


class AcceptingExchangeListApi(BrandHQAPIView):
    """GET: exchanges made by this brand's members (any issuer's offers)."""

    @extend_schema(responses=AcceptingExchangeOutput(many=True))
    def get(self, request):
        return self.paginated(selectors.exchanges_accepted_by(brand=request.tenant), AcceptingExchangeOutput)


class IssuingExchangeListApi(BrandHQAPIView):
    """GET: exchanges of this brand's offers (made at any accepting brand)."""

    @extend_schema(responses=IssuingExchangeOutput(many=True))
    def get(self, request):
        return self.paginated(selectors.exchanges_issued_by(brand=request.tenant), IssuingExchangeOutput)


class StatementOutput(serializers.Serializer):
    """A pair's netted month: both directions, and the net `total_fen` that `payer` pays `payee`."""

    id = serializers.IntegerField()
    brand_low_id = serializers.IntegerField()
    brand_high_id = serializers.IntegerField()
    low_owes_fen = serializers.IntegerField()
    high_owes_fen = serializers.IntegerField()
    payer_id = serializers.IntegerField()
    payer_name = serializers.CharField(source="payer.name")
    payee_id = serializers.IntegerField()
    payee_name = serializers.CharField(source="payee.name")
    month = serializers.DateField()
    total_fen = serializers.IntegerField()
    line_count = serializers.IntegerField()
    status = serializers.CharField()
    payer_confirmed_at = serializers.DateTimeField(allow_null=True)
    payee_confirmed_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)


class StatementListApi(BrandHQAPIView):
    @extend_schema(responses=StatementOutput(many=True))
    def get(self, request):
        return self.paginated(
            selectors.statements_of_brand(brand=request.tenant), StatementOutput, ordering=("-month", "id")
        )


class StatementCsvApi(BrandHQAPIView):
    """GET: the statement as CSV, for either brand of the pair (any other brand: 404)."""

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, statement_id: int):
        from django.http import HttpResponse

        from rights_market.statement_export import statement_csv

        statement = settlement.statement_for_brand(brand=request.tenant, statement_id=statement_id)
        response = HttpResponse("\ufeff" + statement_csv(statement), content_type="text/csv; charset=utf-8")
        name = f"ekr-market-{statement.brand_low.slug}-{statement.brand_high.slug}-{statement.month:%Y-%m}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class StatementConfirmApi(BrandHQAPIView):
    @extend_schema(request=None, responses=StatementOutput)
    def post(self, request, statement_id: int):
        statement = settlement.statement_confirm(brand=request.tenant, statement_id=statement_id)
        return Response(StatementOutput(statement).data)


class RoiIssuerApi(BrandHQAPIView):
    class OutputSerializer(serializers.Serializer):
        class Offer(serializers.Serializer):
            offer_id = serializers.IntegerField()
            title = serializers.CharField()
            redemptions = serializers.IntegerField()
            vouchers_used = serializers.IntegerField()
            sales_fen = serializers.IntegerField()
            new_members = serializers.IntegerField()
            new_members_sales_30d_fen = serializers.IntegerField()
            settlement_received_fen = serializers.IntegerField()
            cost_per_new_member_fen = serializers.IntegerField(allow_null=True)

        offers = Offer(many=True, help_text="Per offer of this brand (rights_market.roi).")

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response({"offers": roi.roi_issuer(brand=request.tenant)})


class RoiAcceptingApi(BrandHQAPIView):
    class OutputSerializer(serializers.Serializer):
        class Group(serializers.Serializer):
            members = serializers.IntegerField()
            orders_30d = serializers.IntegerField()
            sales_30d_fen = serializers.IntegerField()
            orders_per_member_30d = serializers.FloatField(allow_null=True)

        redemptions = serializers.IntegerField()
        points_spent = serializers.IntegerField()
        members_redeemed = serializers.IntegerField()
        members_came_back = serializers.IntegerField()
        redeemers = Group()
        non_redeemers = Group()

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(roi.roi_accepting(brand=request.tenant))


class VoucherUseApi(BrandStaffAPIView):
    """POST: a store of this brand takes a market voucher (store managers: only their franchisee's stores)."""

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=20)
        store_code = serializers.CharField(max_length=32)
        order_amount_fen = serializers.IntegerField(min_value=0, default=0)

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        status = serializers.CharField()
        title = serializers.CharField()
        face_value_fen = serializers.IntegerField()

    @extend_schema(responses=OutputSerializer)
    def post(self, request):
        from members.models import Store
        from rights_market.brandside.services import voucher_use

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if (
            not self.scope.is_hq
            and not Store.objects.filter(
                code=data.validated_data["store_code"], franchisee_id=self.scope.franchisee_id
            ).exists()
        ):
            raise NotFound(_("No such store."), code="store_not_found")
        return Response(self.OutputSerializer(voucher_use(**data.validated_data)).data)

"""Mini-program API: session, registration and the member's own profile."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.client_ip import client_ip
from core.openapi import error
from core.ratelimit import rate_limit_hit
from core.views import PublicAPIView
from members.api.base import MemberAPIView
from members.models import Member
from members.selectors import member_points_balance
from members.services import member_phone_prove, member_profile_update, member_register, member_session_start


class MemberSessionStartApi(PublicAPIView):
    """POST /api/v1/mp/session: a wx.login() code for an ekr session token."""

    class InputSerializer(serializers.Serializer):
        appid = serializers.CharField(max_length=32)
        code = serializers.CharField(max_length=128)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        openid = serializers.CharField()
        member_id = serializers.IntegerField(allow_null=True)

    @extend_schema(
        responses={
            200: OutputSerializer,
            429: error("Too many logins from this address (`rate_limited`)."),
            502: error("WeChat did not answer or refused the code."),
        }
    )
    def post(self, request):
        rate_limit_hit(
            scope="mp-session",
            key=client_ip(request) or "-",
            limit=settings.EKR_MP_SESSION_RATE_PER_MINUTE,
            window_seconds=60,
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = member_session_start(**data.validated_data)
        return Response(self.OutputSerializer(result).data)


class MeTierSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    rank = serializers.IntegerField()
    benefits = serializers.CharField()
    points_multiplier = serializers.CharField(help_text='A decimal, e.g. "1.5".')
    since = serializers.DateTimeField(allow_null=True)


class MeGuideStoreSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class MeGuideSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    store = MeGuideStoreSerializer()


class MeCardSerializer(serializers.Serializer):
    state = serializers.CharField()
    card_id = serializers.CharField(allow_null=True)
    code = serializers.CharField(allow_null=True)
    membership_number = serializers.CharField()


class MeOutputSerializer(serializers.Serializer):
    """What a member sees of themselves: the phone masked, tier, points, exclusive guide, card state."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.CharField(source="phone_masked")
    gender = serializers.CharField()
    birthday = serializers.DateField(allow_null=True)
    joined_at = serializers.DateTimeField()
    tier = serializers.SerializerMethodField()
    points_balance = serializers.SerializerMethodField()
    guide = serializers.SerializerMethodField()
    card = serializers.SerializerMethodField()

    @extend_schema_field(MeTierSerializer(allow_null=True))
    def get_tier(self, member: Member):
        level = member.tier
        if level is None:
            return None
        return {
            "id": level.pk,
            "name": level.name,
            "rank": level.rank,
            "benefits": level.benefits,
            "points_multiplier": str(level.points_multiplier),
            "since": member.tier_since,
        }

    def get_points_balance(self, member: Member) -> int:
        return member_points_balance(member)

    @extend_schema_field(MeGuideSerializer(allow_null=True))
    def get_guide(self, member: Member):
        guide = member.guide
        if guide is None:
            return None
        return {"id": guide.pk, "name": guide.name, "store": {"code": guide.store.code, "name": guide.store.name}}

    @extend_schema_field(MeCardSerializer)
    def get_card(self, member: Member):
        return {
            "state": member.card_state,
            "card_id": member.card_id or None,
            "code": member.card_code,
            "membership_number": member.membership_number,
        }


def _me(member: Member) -> Member:
    return Member.objects.select_related("tier", "guide__store").get(pk=member.pk)


class MemberRegisterApi(MemberAPIView):
    """POST /api/v1/mp/members: register the session's openid. 201 the first time, 200 with the same member after.
    Unknown store code or guide id: 400 with field errors, unless `ignore_unknown_links` is true.

    The phone is either proven (`phone_code` from the getPhoneNumber button; ekr asks WeChat for the number) or
    typed (`phone`). Only a proven phone claims a member imported from the brand's CRM; a typed phone that
    matches one is a 409 `phone_verification_required`."""

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=20, required=False)
        phone_code = serializers.CharField(max_length=128, required=False)
        name = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
        birthday = serializers.DateField(required=False, allow_null=True, default=None)
        gender = serializers.ChoiceField(choices=Member.Gender.choices, required=False, default="unknown")
        store_code = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
        guide_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
        channel = serializers.ChoiceField(
            choices=[c for c in Member.Channel.choices if c[0] != "import"], required=False, allow_null=True
        )
        ignore_unknown_links = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        responses={
            200: MeOutputSerializer,
            201: MeOutputSerializer,
            409: error("A typed phone matches an imported member (`phone_verification_required`)."),
            502: error("WeChat did not confirm the phone code."),
        }
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principal = request.user
        fields = dict(data.validated_data)
        code = fields.pop("phone_code", None)
        if code is None and not fields.get("phone"):
            raise ValidationError({"phone": ["a phone or a phone_code is required"]})
        if code is not None and principal.member() is None:
            proven = member_phone_prove(appid=principal.appid, code=code)
            if fields.get("phone") and "".join(c for c in fields["phone"] if c.isdigit())[-11:] != proven:
                raise ValidationError({"phone": ["differs from the phone WeChat confirmed"]})
            fields["phone"], fields["phone_verified"] = proven, True
        elif code is not None:
            fields.setdefault("phone", "")
        member, created = member_register(openid=principal.openid, unionid=principal.unionid, **fields)
        return Response(
            MeOutputSerializer(_me(member)).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class MeApi(MemberAPIView):
    """GET /api/v1/mp/me: profile, tier, points balance, exclusive guide, card.
    PATCH: name, gender, birthday (once). Not the phone, not the tier."""

    class PatchSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=50, required=False)
        gender = serializers.ChoiceField(choices=Member.Gender.choices, required=False)
        birthday = serializers.DateField(required=False)

    @extend_schema(responses=MeOutputSerializer)
    def get(self, request):
        return Response(MeOutputSerializer(_me(self.member_or_404())).data)

    @extend_schema(responses=MeOutputSerializer)
    def patch(self, request):
        member = self.member_or_404()
        unknown = set(request.data) - set(self.PatchSerializer().fields) if isinstance(request.data, dict) else set()
        if unknown:
            from core.errors import ApplicationError

            raise ApplicationError(
                _("Some fields cannot be edited."),
                code="not_editable",
                fields={k: ["not editable by the member"] for k in sorted(unknown)},
            )
        data = self.PatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        member = member_profile_update(member=member, **data.validated_data)
        return Response(MeOutputSerializer(_me(member)).data)

"""API tokens over HTTP, on every host (a brand's users on the brand's host, ops users on the platform host).

POST /api/v1/auth/tokens                 {username, password, name?} -> 201 {id, token, prefix}: shown once
GET  /api/v1/auth/tokens                 the caller's own tokens (prefix, name, dates; never the secret)
POST /api/v1/auth/tokens/<id>/revoke     revoke one of the caller's tokens
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response

from core.models import ApiToken
from core.openapi import error
from core.tokens import ApiTokenAuthentication, api_token_issue, api_token_revoke
from core.views import BaseAPIView


class IsUser(BasePermission):
    def has_permission(self, request, view):
        user = getattr(request, "user", None)
        return bool(
            user is not None and user.is_authenticated and not getattr(user, "is_member", False) and user.is_active
        )


class TokenOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "prefix", "name", "created_at", "last_used_at", "expires_at", "revoked_at"]


class TokenIssuedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    prefix = serializers.CharField()
    token = serializers.CharField(help_text="Shown once.")


class TokenListSerializer(serializers.Serializer):
    results = TokenOutputSerializer(many=True)


class ApiTokenListCreateApi(BaseAPIView):
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]

    class TokenIssueInputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)
        name = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsUser()]

    def get_authenticators(self):
        # Issuing takes a username and password in the body, not a header (and never HTTP Basic).
        return (
            []
            if getattr(self, "request", None) is not None and self.request.method == "POST"
            else super().get_authenticators()
        )

    @extend_schema(responses={200: TokenListSerializer})
    def get(self, request):
        return Response({"results": TokenOutputSerializer(ApiToken.objects.filter(user=request.user), many=True).data})

    @extend_schema(
        request=TokenIssueInputSerializer,
        responses={
            201: TokenIssuedSerializer,
            401: error("Wrong username or password (`not_authenticated`)."),
            429: error("Too many failed logins for this username (`locked_out`, with Retry-After)."),
        },
    )
    def post(self, request):
        data = self.TokenIssueInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request, username=data.validated_data["username"], password=data.validated_data["password"]
        )  # axes counts failures and locks out
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("Wrong username or password.")
        token, raw = api_token_issue(user=user, name=data.validated_data["name"])
        return Response({"id": token.pk, "prefix": token.prefix, "token": raw}, status=status.HTTP_201_CREATED)

    def get_authenticate_header(self, request):
        return 'Token realm="api"'


class ApiTokenRevokeApi(BaseAPIView):
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [IsUser]

    @extend_schema(request=None, responses={200: TokenOutputSerializer})
    def post(self, request, token_id: int):
        return Response(TokenOutputSerializer(api_token_revoke(user=request.user, token_id=token_id)).data)

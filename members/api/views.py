from django.conf import settings
from rest_framework import serializers
from rest_framework.response import Response

from core.ratelimit import rate_limit_hit
from core.views import PublicAPIView
from members.services import member_session_start


class MemberSessionStartApi(PublicAPIView):
    """POST /api/v1/mp/session: a wx.login() code for an ekr session token."""

    class InputSerializer(serializers.Serializer):
        appid = serializers.CharField(max_length=32)
        code = serializers.CharField(max_length=128)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        openid = serializers.CharField()
        member_id = serializers.IntegerField(allow_null=True)

    def post(self, request):
        rate_limit_hit(scope="mp-session", key=request.META.get("REMOTE_ADDR", "-"),
                       limit=settings.EKR_MP_SESSION_RATE_PER_MINUTE, window_seconds=60)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = member_session_start(**data.validated_data)
        return Response(self.OutputSerializer(result).data)

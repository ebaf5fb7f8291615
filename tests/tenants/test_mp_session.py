"""POST /api/v1/mp/session: wx.login() code for an ekr session token, through wechatpy and the fake WeChat."""

import time

import pytest
from django.core import signing

from members.models import Member
from members.mp_auth import SALT, member_token_issue

APPID_A = "wxalpha000000000001"


def test_a_good_code_gives_a_token_naming_brand_and_openid(brand_a, client_for, fake_wechat):
    fake_wechat.codes["c-1"] = {"openid": "o-alpha-1", "session_key": "SESSIONKEY==", "unionid": "u-1"}

    response = client_for(brand_a).post("/api/v1/mp/session", {"appid": APPID_A, "code": "c-1"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["openid"] == "o-alpha-1"
    assert body["member_id"] is None
    assert "session_key" not in response.content.decode()
    claims = signing.loads(body["token"], salt=SALT)
    assert claims["s"] == "alpha" and claims["o"] == "o-alpha-1"
    # the call went to WeChat's jscode2session with the app's secret, via wechatpy
    ((_, _, query, _),) = fake_wechat.calls_to("/sns/jscode2session")
    assert query["appid"] == APPID_A and query["secret"] == "alpha-secret" and query["js_code"] == "c-1"


def test_a_registered_member_gets_its_member_id(brand_a, client_for, fake_wechat, in_schema):
    with in_schema(brand_a):
        member = Member.objects.create(openid="o-alpha-2")
    fake_wechat.codes["c-2"] = {"openid": "o-alpha-2", "session_key": "k"}

    response = client_for(brand_a).post("/api/v1/mp/session", {"appid": APPID_A, "code": "c-2"}, format="json")

    assert response.json()["member_id"] == member.id


def test_a_bad_code_is_a_400_with_wechat_errcode(brand_a, client_for):
    response = client_for(brand_a).post("/api/v1/mp/session", {"appid": APPID_A, "code": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_code"
    assert "40029" in str(response.json()["error"]["fields"])


def test_a_used_code_is_refused(brand_a, client_for, fake_wechat):
    fake_wechat.codes["c-3"] = {"openid": "o-3", "session_key": "k"}
    client = client_for(brand_a)
    assert client.post("/api/v1/mp/session", {"appid": APPID_A, "code": "c-3"}, format="json").status_code == 200
    assert client.post("/api/v1/mp/session", {"appid": APPID_A, "code": "c-3"}, format="json").status_code == 400


def test_wechat_down_is_a_502_not_a_500(brand_a, client_for, fake_wechat):
    fake_wechat.fail_next("/sns/jscode2session", {"errcode": -1, "errmsg": "system error"}, status=503)
    response = client_for(brand_a).post("/api/v1/mp/session", {"appid": APPID_A, "code": "c-x"}, format="json")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "wechat_unavailable"


def test_another_brands_appid_is_unknown_here(brand_a, brand_b, client_for, fake_wechat):
    fake_wechat.codes["c-4"] = {"openid": "o-4", "session_key": "k"}
    response = client_for(brand_b).post("/api/v1/mp/session", {"appid": APPID_A, "code": "c-4"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_appid"
    assert fake_wechat.calls_to("/sns/jscode2session") == []


def test_access_tokens_are_cached_per_app(brand_a, client_for, fake_wechat):
    for i in range(3):
        fake_wechat.codes[f"cc-{i}"] = {"openid": f"o-c{i}", "session_key": "k"}
        client_for(brand_a).post("/api/v1/mp/session", {"appid": APPID_A, "code": f"cc-{i}"}, format="json")
    assert len(fake_wechat.calls_to("/sns/jscode2session")) == 3
    assert len(fake_wechat.calls_to("/cgi-bin/token")) <= 1


class TestMemberToken:
    """The token is signed, expires, and only works on the brand that issued it."""

    @pytest.fixture
    def probe_view(self):

        from rest_framework.response import Response

        from members.api.base import MemberAPIView

        class WhoAmI(MemberAPIView):
            def get(self, request):
                return Response({"openid": request.user.openid})

        return WhoAmI.as_view()

    def _call(self, brand, token, probe_view):
        from django.db import connection
        from rest_framework.test import APIRequestFactory

        request = APIRequestFactory().get(
            "/x", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST=f"{brand.slug}.localhost"
        )
        connection.set_tenant(brand)
        try:
            return probe_view(request)
        finally:
            connection.set_schema_to_public()

    def test_own_brand_token_is_accepted(self, brand_a, probe_view):
        token = member_token_issue(schema="alpha", appid=APPID_A, openid="o-1")
        response = self._call(brand_a, token, probe_view)
        assert response.status_code == 200 and response.data == {"openid": "o-1"}

    def test_brand_a_token_on_brand_b_is_a_401(self, brand_b, probe_view):
        token = member_token_issue(schema="alpha", appid=APPID_A, openid="o-1")
        assert self._call(brand_b, token, probe_view).status_code == 401

    def test_forged_token_is_a_401(self, brand_a, probe_view):
        token = member_token_issue(schema="alpha", appid=APPID_A, openid="o-1")
        assert self._call(brand_a, token[:-2] + "xx", probe_view).status_code == 401

    def test_expired_token_is_a_401(self, brand_a, probe_view, settings):
        from django.core import signing

        from members.mp_auth import SALT

        class IssuedAnHourAgo(signing.TimestampSigner):
            def timestamp(self):
                return signing.b62_encode(int(time.time()) - 3600)

        token = IssuedAnHourAgo(salt=SALT).sign_object(
            {"s": "alpha", "a": APPID_A, "o": "o-1", "u": ""}, serializer=signing.JSONSerializer, compress=True
        )
        settings.EKR_MP_TOKEN_TTL_SECONDS = 3599
        assert self._call(brand_a, token, probe_view).status_code == 401
        settings.EKR_MP_TOKEN_TTL_SECONDS = 3700  # the same token, within its lifetime: accepted
        assert self._call(brand_a, token, probe_view).status_code == 200

    def test_no_token_is_a_401(self, brand_a, probe_view):
        from django.db import connection
        from rest_framework.test import APIRequestFactory

        connection.set_tenant(brand_a)
        try:
            response = probe_view(APIRequestFactory().get("/x"))
        finally:
            connection.set_schema_to_public()
        assert response.status_code == 401


def test_logins_are_rate_limited_per_address_and_brand(brand_a, brand_b, client_for, settings, redis_client):
    settings.EKR_MP_SESSION_RATE_PER_MINUTE = 3
    for key in redis_client.scan_iter("ekr:rl:*"):
        redis_client.delete(key)
    client = client_for(brand_a)
    codes = [
        client.post(
            "/api/v1/mp/session", {"appid": APPID_A, "code": "x"}, format="json", REMOTE_ADDR="10.9.9.9"
        ).status_code
        for _ in range(4)
    ]
    assert codes == [400, 400, 400, 429]
    # another brand's budget is its own
    other = client_for(brand_b).post(
        "/api/v1/mp/session", {"appid": APPID_A, "code": "x"}, format="json", REMOTE_ADDR="10.9.9.9"
    )
    assert other.status_code == 404

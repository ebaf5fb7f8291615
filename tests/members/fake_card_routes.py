"""Member-card endpoints of the fake WeChat, in WeChat's formats (card/membercard/*)."""

from __future__ import annotations

import json

from tests.fake_wechat.server import FakeWeChat, err, ok, route


def _body(fake: FakeWeChat, query: dict, body: bytes):
    if not fake.check_token(query):
        return None, err(40001, "invalid credential, access_token is invalid or not latest")
    return json.loads(body or b"{}"), None


@route("POST", "/card/membercard/updateuser")
def membercard_updateuser(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _body(fake, query, body)
    if error:
        return error
    if not data.get("code") or not data.get("card_id"):
        return err(40056, "invalid serial code")
    fake.state.setdefault("card_updates", []).append(data)
    return ok(result_bonus=data.get("bonus", 0), result_balance=0, openid="o-card")


@route("POST", "/card/membercard/activate")
def membercard_activate(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _body(fake, query, body)
    if error:
        return error
    fake.state.setdefault("card_activations", []).append(data)
    return ok()


@route("POST", "/card/membercard/userinfo/get")
def membercard_userinfo(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _body(fake, query, body)
    if error:
        return error
    form = fake.state.get("card_forms", {}).get(data.get("code"), [])
    return ok(
        openid="o-card",
        nickname="n",
        bonus=0,
        user_card_status="NORMAL",
        user_info={"common_field_list": form, "custom_field_list": []},
    )

"""The fake WeChat Pay APIv3 商家转账 (merchant transfer to a user's openid), in WeChat Pay's own formats:

    POST /v3/fund-app/mch-transfer/transfer-bills            {appid, out_bill_no, transfer_scene_id, openid,
                                                              transfer_amount, transfer_remark, ...}
        -> {out_bill_no, transfer_bill_no, create_time, state, package_info (WAIT_USER_CONFIRM), fail_reason (FAIL)}
    GET  /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}
        -> {mch_id, out_bill_no, transfer_bill_no, appid, state, transfer_amount, transfer_remark, openid,
            fail_reason, create_time, update_time}; 404 {"code": "NOT_FOUND"} for a bill never made

A direct merchant (not a service provider: this API has no partner form) signs its requests as in pay_v3.
One bill per (mchid, out_bill_no): the same out_bill_no again answers that bill; with other parameters it is
refused. Program it:
    fake.pay_v3_merchant(mchid, appid, merchant_public_pem, merchant_serial, apiv3_key)
    fake.state["transfer_state"] = "WAIT_USER_CONFIRM"   # what a new bill starts as (the default), or SUCCESS/FAIL
    fake.state["transfer_lose_answers"] = 1               # make the next bill, then answer 500 (the answer is lost)
    fake.pay_v3_transfer_finish(out_bill_no, "SUCCESS")   # the user confirmed (or "FAIL", fail_reason=...)
    fake.pay_v3_transfer_bills                           -> {(mchid, out_bill_no): bill}
"""

from __future__ import annotations

import secrets
from urllib.parse import urlparse

from tests.fake_wechat.pay_v3 import _answer, _authenticate, _error, _json, _now_rfc3339
from tests.fake_wechat.server import FakeWeChat, route

BILLS = "/v3/fund-app/mch-transfer/transfer-bills"
FINAL = {"SUCCESS", "FAIL", "CANCELLED"}


def _merchant(self: FakeWeChat, mchid: str, appid: str, merchant_public_pem: str, serial: str, apiv3_key: str):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    self.state.setdefault("v3_providers", {})[mchid] = {
        "appid": appid,
        "public_key": load_pem_public_key(merchant_public_pem.encode()),
        "serial": serial,
        "apiv3_key": apiv3_key,
        "sub_merchants": {},
        "direct": True,
    }


def _bills(fake: FakeWeChat) -> dict:
    return fake.state.setdefault("transfer_bills", {})


def _finish(self: FakeWeChat, out_bill_no: str, state: str = "SUCCESS", fail_reason: str = "") -> None:
    with self.lock:
        bill = next(b for (_mchid, no), b in _bills(self).items() if no == out_bill_no)
        bill.update(state=state, fail_reason=fail_reason, update_time=_now_rfc3339(), package_info="")


def _view(bill: dict) -> dict:
    return {k: v for k, v in bill.items() if v not in ("", None)}


@route("POST", BILLS, prefix=True)
def transfer_bills(fake: FakeWeChat, query: dict, body: bytes, *, request):
    if urlparse(request.path).path != BILLS:
        return _error(404, "NOT_FOUND", "no such API")
    who, fail = _authenticate(fake, request, body)
    if fail:
        return fail
    mchid, merchant = who
    if not merchant.get("direct"):
        return _error(403, "NO_AUTH", "商户号无权限使用商家转账")
    data = _json(body)
    if data is None:
        return _error(400, "PARAM_ERROR", "请求体不是合法的JSON")
    missing = [
        k
        for k in ("appid", "out_bill_no", "transfer_scene_id", "openid", "transfer_amount", "transfer_remark")
        if not data.get(k)
    ]
    if missing:
        return _error(400, "PARAM_ERROR", f"缺少参数 {','.join(missing)}")
    if data["appid"] != merchant["appid"]:
        return _error(400, "PARAM_ERROR", "appid和mch_id不匹配")
    if not isinstance(data["transfer_amount"], int) or data["transfer_amount"] <= 0:
        return _error(400, "PARAM_ERROR", "转账金额不合法")
    key = (mchid, data["out_bill_no"])
    with fake.lock:
        bill = _bills(fake).get(key)
        if bill is not None and (bill["openid"], bill["transfer_amount"]) != (data["openid"], data["transfer_amount"]):
            return _error(400, "INVALID_REQUEST", "商户单号重复 请求参数与原单据不一致")
        if bill is None:
            state = fake.state.get("transfer_state", "WAIT_USER_CONFIRM")
            now = _now_rfc3339()
            bill = {
                "mch_id": mchid,
                "out_bill_no": data["out_bill_no"],
                "transfer_bill_no": "1330000071100999991182020050700019480" + secrets.token_hex(2),
                "appid": data["appid"],
                "state": state,
                "transfer_amount": data["transfer_amount"],
                "transfer_remark": data["transfer_remark"],
                "openid": data["openid"],
                "fail_reason": "PAYEE_ACCOUNT_ABNORMAL" if state == "FAIL" else "",
                "create_time": now,
                "update_time": now,
                "package_info": "ABBQO+oYAAABAAAAAAAk" + secrets.token_hex(12) if state == "WAIT_USER_CONFIRM" else "",
            }
            _bills(fake)[key] = bill
        if fake.state.get("transfer_lose_answers"):
            fake.state["transfer_lose_answers"] -= 1
            return _error(500, "SYSTEM_ERROR", "系统错误 请稍后重试")
    answer = {k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "create_time", "state")}
    if bill["state"] == "WAIT_USER_CONFIRM":
        answer["package_info"] = bill["package_info"]
    if bill["fail_reason"]:
        answer["fail_reason"] = bill["fail_reason"]
    return _answer(fake, 200, answer)


@route("GET", BILLS + "/out-bill-no/", prefix=True)
def transfer_bill_query(fake: FakeWeChat, query: dict, body: bytes, *, request):
    who, fail = _authenticate(fake, request, body)
    if fail:
        return fail
    mchid, _merchant_row = who
    number = urlparse(request.path).path.rsplit("/", 1)[-1]
    bill = _bills(fake).get((mchid, number))
    if bill is None:
        return _error(404, "NOT_FOUND", "记录不存在")
    view = _view(bill)
    view.pop("package_info", None)
    return _answer(fake, 200, view)


FakeWeChat.pay_v3_merchant = _merchant
FakeWeChat.pay_v3_transfer_finish = _finish
FakeWeChat.pay_v3_transfer_bills = property(lambda self: _bills(self))

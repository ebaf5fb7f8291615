"""WeChat Pay APIv3 商家转账 (merchant transfer to a user's openid) from the brand's own merchant, through
wechatpayv3's `mch_transfer_bills` / `mch_transfer_bills_query` (POST /v3/fund-app/mch-transfer/transfer-bills,
GET .../transfer-bills/out-bill-no/{out_bill_no}). Partner mode has no form of this API, so the brand's own
merchant pays (tenants.wechatpay.merchant_client).

A bill is keyed by out_bill_no at WeChat: sending the same out_bill_no again answers the bill already made, so a
retry never pays twice. States: ACCEPTED, PROCESSING, WAIT_USER_CONFIRM (the user confirms receipt in the
mini-program with `package_info`), TRANSFERING, SUCCESS, FAIL, CANCELING, CANCELLED; SUCCESS, FAIL and CANCELLED
are final."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from miniprograms.payments.base import PaymentUnavailable
from tenants.models import WeChatApp
from tenants.wechatpay import MerchantClient, ProviderNotConfigured, merchant_client

FINAL_STATES = {"SUCCESS", "FAIL", "CANCELLED"}


@dataclass(frozen=True)
class TransferBill:
    out_bill_no: str
    transfer_bill_no: str
    state: str
    package_info: str = ""
    fail_reason: str = ""


class MerchantTransfers:
    def __init__(self, app: WeChatApp, client: MerchantClient):
        self.app = app
        self.client = client

    @classmethod
    def for_app(cls, app: WeChatApp) -> MerchantTransfers:
        try:
            return cls(app, merchant_client(app))
        except ProviderNotConfigured:
            raise PaymentUnavailable(
                _("The brand's WeChat Pay merchant is not set up for transfers."),
                code="transfer_not_configured",
                status_code=409,
            ) from None

    def _call(self, method, **kwargs) -> tuple[int, dict]:
        try:
            code, text = method(**kwargs)
        except Exception as exc:  # network errors, and answers whose signature does not verify
            raise PaymentUnavailable(_("WeChat Pay could not be reached or answered unsigned.")) from exc
        try:
            body = json.loads(text) if text else {}
        except (TypeError, ValueError):
            body = {}
        return code, body if isinstance(body, dict) else {}

    @staticmethod
    def _refused(code: int, body: dict) -> PaymentUnavailable:
        wechat_code = str(body.get("code") or code)
        return PaymentUnavailable(
            _("WeChat Pay refused: %(code)s %(message)s"),
            params={"code": wechat_code, "message": body.get("message", "")},
            fields={"wechat": [wechat_code]},
        )

    @staticmethod
    def _bill(out_bill_no: str, body: dict) -> TransferBill:
        return TransferBill(
            out_bill_no=out_bill_no,
            transfer_bill_no=str(body.get("transfer_bill_no") or ""),
            state=str(body.get("state") or ""),
            package_info=str(body.get("package_info") or ""),
            fail_reason=str(body.get("fail_reason") or ""),
        )

    def transfer(self, *, out_bill_no: str, openid: str, amount_fen: int, remark: str) -> TransferBill:
        """Make (or, for an out_bill_no already used, read back) the bill paying `amount_fen` to `openid` of the
        brand's mini-program. Raises PaymentUnavailable when WeChat cannot be reached or refuses."""
        code, body = self._call(
            self.client.mch_transfer_bills,
            out_bill_no=out_bill_no,
            transfer_scene_id=settings.WECHATPAY_TRANSFER_SCENE_ID,
            openid=openid,
            transfer_amount=int(amount_fen),
            transfer_remark=remark[:32],
            transfer_scene_report_infos=[
                {"info_type": "岗位类型", "info_content": "导购"},
                {"info_type": "报酬说明", "info_content": remark[:32]},
            ],
            appid=self.app.appid,
        )
        if not 200 <= code < 300:
            raise self._refused(code, body)
        return self._bill(out_bill_no, body)

    def query(self, *, out_bill_no: str) -> TransferBill | None:
        """The bill as WeChat has it, or None when WeChat never made it (NOT_FOUND)."""
        code, body = self._call(self.client.mch_transfer_bills_query, out_bill_no=out_bill_no)
        if code == 404 or body.get("code") == "NOT_FOUND":
            return None
        if not 200 <= code < 300:
            raise self._refused(code, body)
        return self._bill(out_bill_no, body)

"""WeChat's mini-program live API (小程序直播), which wechatpy lacks: one small class on wechatpy's BaseWeChatAPI,
reached through the rebased client (tenants.wechat.wechat_api, access tokens as everywhere), and the one place
WeChat's live errcodes become ekr error codes.

Money: WeChat wants yuan with two decimals; ekr keeps fen. `fen_to_yuan` is the only conversion.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils.translation import gettext_lazy as _
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException

from core.errors import ApplicationError

GETLIVEINFO_MAX_LIMIT = 100
# getliveinfo live_status -> LiveRoom.Status
LIVE_STATUS = {
    101: "live",
    102: "upcoming",
    103: "ended",
    104: "banned",
    105: "paused",
    106: "abnormal",
    107: "expired",
}
EMPTY_LIST = 9410000
ALREADY_PUSHED_TODAY = 9410005
NOT_LIVE = 9410006
ANCHOR_NOT_VERIFIED = 300036


def fen_to_yuan(fen: int) -> float:
    """1990 fen -> 19.9 yuan (two decimals, exact: Decimal, then the float WeChat's JSON expects)."""
    return float((Decimal(int(fen)) / 100).quantize(Decimal("0.01")))


class WeChatLive(BaseWeChatAPI):
    """wxaapi/broadcast/* and wxa/business/* live endpoints. Each returns WeChat's JSON (errcode 0) or raises
    wechatpy's WeChatClientException; `live_call` turns that into an ApplicationError."""

    API_BASE_URL = "https://api.weixin.qq.com/"

    # --- rooms ---
    def room_create(self, room: dict[str, Any]) -> dict:
        return self._post("wxaapi/broadcast/room/create", data=room)

    def room_edit(self, room: dict[str, Any]) -> dict:
        return self._post("wxaapi/broadcast/room/editroom", data=room)

    def room_delete(self, room_id: int) -> dict:
        return self._post("wxaapi/broadcast/room/deleteroom", data={"id": room_id})

    def room_add_goods(self, room_id: int, goods_ids: list[int]) -> dict:
        return self._post("wxaapi/broadcast/room/addgoods", data={"ids": list(goods_ids), "roomId": room_id})

    def room_shared_code(self, room_id: int) -> dict:
        return self._get("wxaapi/broadcast/room/getsharedcode", params={"roomId": room_id})

    # --- status ---
    def live_info(self, start: int = 0, limit: int = GETLIVEINFO_MAX_LIMIT) -> dict:
        """Rooms and their live_status, a page at a time. 9410000 (no rooms) is an empty page, not an error."""
        try:
            return self._post(
                "wxa/business/getliveinfo", data={"start": start, "limit": min(limit, GETLIVEINFO_MAX_LIMIT)}
            )
        except WeChatClientException as exc:
            if exc.errcode == EMPTY_LIST:
                return {"errcode": 0, "room_info": [], "total": 0}
            raise

    def replays(self, room_id: int, start: int = 0, limit: int = GETLIVEINFO_MAX_LIMIT) -> dict:
        try:
            return self._post(
                "wxa/business/getliveinfo",
                data={"action": "get_replay", "room_id": room_id, "start": start, "limit": limit},
            )
        except WeChatClientException as exc:
            if exc.errcode == EMPTY_LIST:
                return {"errcode": 0, "live_replay": [], "total": 0}
            raise

    # --- goods ---
    def goods_add(self, goods: dict[str, Any]) -> dict:
        return self._post("wxaapi/broadcast/goods/add", data={"goodsInfo": goods})

    def goods_reset_audit(self, goods_id: int, audit_id: int) -> dict:
        return self._post("wxaapi/broadcast/goods/resetaudit", data={"auditId": audit_id, "goodsId": goods_id})

    def goods_audit(self, goods_id: int) -> dict:
        return self._post("wxaapi/broadcast/goods/audit", data={"goodsId": goods_id})

    def goods_delete(self, goods_id: int) -> dict:
        return self._post("wxaapi/broadcast/goods/delete", data={"goodsId": goods_id})

    def goods_update(self, goods: dict[str, Any]) -> dict:
        return self._post("wxaapi/broadcast/goods/update", data={"goodsInfo": goods})

    def goods_warehouse(self, goods_ids: list[int]) -> dict:
        return self._post("wxa/business/getgoodswarehouse", data={"goods_ids": list(goods_ids)})

    # --- followers ---
    def followers(self, limit: int = 200, page_break: int | None = None) -> dict:
        data: dict[str, Any] = {"limit": limit}
        if page_break:
            data["page_break"] = page_break
        return self._post("wxa/business/get_wxa_followers", data=data)

    def push_message(self, room_id: int, openids: list[str]) -> dict:
        return self._post("wxa/business/push_message", data={"room_id": room_id, "user_openid": list(openids)})


# errcode -> (ekr code, HTTP status, message)
ERRORS: dict[int, tuple[str, int, Any]] = {
    300001: ("live_forbidden", 403, _("WeChat forbids creating or editing this (permission withdrawn).")),
    300002: ("live_name_length", 400, _("The name's length is not accepted by WeChat.")),
    300003: ("live_price_invalid", 400, _("The price is not accepted (e.g. the discounted price is higher).")),
    300004: ("live_goods_name_banned", 400, _("The goods name breaks WeChat's content rules.")),
    300005: ("live_goods_image_banned", 400, _("The goods image breaks WeChat's content rules.")),
    300006: ("live_image_upload_failed", 400, _("The image could not be used (media_id expired?).")),
    300007: ("live_page_not_found", 400, _("The page is not in the released mini-program.")),
    300008: ("live_goods_add_failed", 502, _("WeChat could not add the goods.")),
    300009: ("live_audit_withdraw_failed", 409, _("WeChat could not withdraw the audit.")),
    300010: ("live_audit_state", 409, _("The goods' audit state does not allow this (e.g. in review).")),
    300011: ("live_goods_not_api", 409, _("Goods not created through the API cannot be changed through it.")),
    300012: ("live_audit_quota", 429, _("No audit quota left today (500 a day).")),
    300013: ("live_audit_failed", 502, _("WeChat could not submit the audit.")),
    300014: ("live_goods_in_review", 409, _("Goods in review cannot be deleted.")),
    300017: ("live_goods_not_submitted", 409, _("The goods were not submitted for audit.")),
    300018: ("live_image_size", 400, _("The image size is not accepted.")),
    300021: ("live_goods_added_audit_failed", 502, _("The goods were added but their audit failed.")),
    300022: ("live_room_not_found", 404, _("WeChat has no such room.")),
    300023: ("live_room_state", 409, _("The room's state does not allow this.")),
    300024: ("live_goods_not_found", 404, _("WeChat has no such goods.")),
    300025: ("live_goods_not_approved", 409, _("The goods are not approved.")),
    300026: ("live_room_goods_full", 409, _("The room holds as many goods as allowed.")),
    300027: ("live_goods_import_failed", 502, _("WeChat could not import the goods.")),
    300028: ("live_room_name_banned", 400, _("The room name breaks WeChat's content rules.")),
    300029: ("live_anchor_name_banned", 400, _("The anchor's name breaks WeChat's content rules.")),
    300030: ("live_anchor_wechat_invalid", 400, _("The anchor's WeChat id is invalid.")),
    300031: ("live_cover_banned", 400, _("The cover image breaks WeChat's content rules.")),
    300032: ("live_share_image_banned", 400, _("The share image breaks WeChat's content rules.")),
    300033: ("live_room_goods_limit", 409, _("The room's goods limit is reached.")),
    300034: ("live_anchor_name_length", 400, _("The anchor's name length is not accepted.")),
    300035: ("live_anchor_not_found", 400, _("No such WeChat account for the anchor.")),
    300036: (
        "live_anchor_not_verified",
        409,
        "The anchor's WeChat account is not real-name verified: scan the QR code to verify, then retry.",
    ),
    9410000: ("live_empty", 404, _("WeChat has no rooms.")),
    9410001: ("live_rooms_unavailable", 502, _("WeChat could not list the rooms.")),
    9410002: ("live_goods_unavailable", 502, _("WeChat could not list the goods.")),
    9410003: ("live_replay_unavailable", 502, _("WeChat could not list the replays.")),
    9410004: ("live_followers_unavailable", 502, _("WeChat could not list the followers.")),
    9410005: ("live_already_pushed_today", 409, _("Followers were already told about a show today.")),
    9410006: ("live_not_live", 409, _("The room is not live; followers can only be told once it is.")),
    268489001: (
        "live_permission_missing",
        403,
        "This mini-program has no live permission (WeChat stopped granting it); use an external room.",
    ),
}


class LiveWeChatError(ApplicationError):
    """A WeChat live call failed; `errcode` is WeChat's."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int,
        errcode: int | None,
        fields: dict | None = None,
        params: dict | None = None,
    ):
        super().__init__(message, code=code, status_code=status_code, fields=fields, params=params)
        self.errcode = errcode


def live_error(exc: Exception) -> LiveWeChatError:
    """The ekr error for a failed live call (errcode mapped; network failures are 502 wechat_unavailable)."""
    if isinstance(exc, WeChatClientException) and exc.errcode is not None:
        errcode = int(exc.errcode)
        code, status, message = ERRORS.get(errcode, ("wechat_error", 502, _("WeChat answered errcode %(errcode)s.")))
        fields: dict[str, Any] = {"errcode": errcode}
        if errcode == ANCHOR_NOT_VERIFIED:
            try:
                fields["qrcode_url"] = exc.response.json().get("qrcode_url", "")
            except Exception:  # no body to read: the message still tells the user what to do
                fields["qrcode_url"] = ""
        return LiveWeChatError(
            message, code=code, status_code=status, errcode=errcode, fields=fields, params={"errcode": errcode}
        )
    return LiveWeChatError(
        _("WeChat answered without an errcode."), code="wechat_unavailable", status_code=502, errcode=None
    )


def live_api(app=None) -> WeChatLive:
    """The live API of the brand's mini-program (409 no_miniprogram without one)."""
    from tenants.models import WeChatApp
    from tenants.wechat import wechat_api

    if app is None:
        app = (
            WeChatApp.objects.select_related("brand")
            .filter(brand__schema_name=connection.schema_name, kind=WeChatApp.Kind.MINIPROGRAM)
            .first()
        )
    if app is None:
        raise ApplicationError(_("The brand has no mini-program."), code="no_miniprogram", status_code=409)
    return wechat_api(app, WeChatLive)


def live_call(fn, *args, **kwargs):
    """Call a WeChatLive method. WeChat busy or unreachable is tenants.wechat's WeChatUnavailable (decided there,
    once); a live errcode becomes a LiveWeChatError (ERRORS). Never inside a transaction holding row locks
    (callers make sure)."""
    from tenants.wechat import wechat_errors

    try:
        with wechat_errors():
            return fn(*args, **kwargs)
    except WeChatClientException as exc:
        raise live_error(exc) from exc


def media_upload(api: WeChatLive, content: bytes, filename: str = "image.jpg") -> str:
    """Upload an image through wechatpy's media API (cgi-bin/media/upload); its media_id."""
    import io

    result = live_call(api._client.media.upload, "image", (filename, io.BytesIO(content)))
    media_id = result.get("media_id") if isinstance(result, dict) else None
    if not media_id:
        raise LiveWeChatError(
            _("WeChat answered without a media_id."), code="wechat_unavailable", status_code=502, errcode=None
        )
    return media_id

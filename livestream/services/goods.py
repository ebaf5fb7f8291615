"""Live goods in the brand's WeChat goods warehouse: add (submitted for audit), withdraw the audit, audit again,
update, delete, and read audit states back. Prices are fen here; `fen_to_yuan` converts for WeChat."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict
from livestream.models import LiveGoods
from livestream.wechat import (
    LiveWeChatError,
    fen_to_yuan,
    live_api,
    live_call,
    media_upload,
)
from members.models import Store
from miniprograms.models import Product

WAREHOUSE_PAGE = 20  # getgoodswarehouse takes at most 20 ids


def _wechat_goods(goods: LiveGoods) -> dict:
    info = {"name": goods.name, "priceType": goods.price_type, "price": fen_to_yuan(goods.price_fen), "url": goods.url}
    if goods.cover_media_id:
        info["coverImgUrl"] = goods.cover_media_id
    if goods.price_type != LiveGoods.PriceType.FIXED:
        info["price2"] = fen_to_yuan(goods.price2_fen)
    return info


def _check_prices(*, price_type: int, price_fen: int, price2_fen: int) -> None:
    if price_type == LiveGoods.PriceType.RANGE and not price2_fen > price_fen:
        raise ApplicationError(
            _("A price range needs a higher second price."),
            code="live_price_invalid",
            fields={"price2_fen": ["must be above price_fen"]},
        )
    if price_type == LiveGoods.PriceType.DISCOUNT and not 0 < price2_fen < price_fen:
        raise ApplicationError(
            _("The discounted price must be below the original."),
            code="live_price_invalid",
            fields={"price2_fen": ["must be below price_fen"]},
        )


def goods_add(
    *,
    name: str,
    price_fen: int,
    url: str,
    cover_image: bytes,
    price_type: int = 1,
    price2_fen: int = 0,
    store: Store | None = None,
    product: Product | None = None,
) -> LiveGoods:
    """Add goods to the warehouse; WeChat submits them for audit at once (audit_status 1)."""
    _check_prices(price_type=price_type, price_fen=price_fen, price2_fen=price2_fen)
    goods = LiveGoods(
        name=name,
        price_fen=price_fen,
        price2_fen=price2_fen,
        price_type=price_type,
        url=url,
        store=store,
        product=product,
    )
    goods.full_clean(exclude=["cover_media_id"])
    api = live_api()
    goods.cover_media_id = media_upload(api, cover_image, "goods.jpg")
    result = live_call(api.goods_add, _wechat_goods(goods))
    goods.wechat_goods_id = int(result["goodsId"])
    goods.audit_id = int(result.get("auditId") or 0) or None
    goods.audit_status = LiveGoods.Audit.IN_REVIEW
    with transaction.atomic():
        goods.save()
    return goods


def goods_reset_audit(*, goods: LiveGoods) -> LiveGoods:
    """Withdraw goods from audit (only while in review)."""
    if goods.audit_status != LiveGoods.Audit.IN_REVIEW:
        raise Conflict(_("Only goods in review can be withdrawn."), code="live_audit_state")
    live_call(live_api().goods_reset_audit, goods.wechat_goods_id, goods.audit_id)
    LiveGoods.objects.filter(pk=goods.pk).update(audit_status=LiveGoods.Audit.NOT_REVIEWED)
    goods.audit_status = LiveGoods.Audit.NOT_REVIEWED
    return goods


def goods_audit(*, goods: LiveGoods) -> LiveGoods:
    """Submit goods for audit again (not while in review)."""
    if goods.audit_status == LiveGoods.Audit.IN_REVIEW:
        raise Conflict(_("These goods are in review."), code="live_audit_state")
    result = live_call(live_api().goods_audit, goods.wechat_goods_id)
    goods.audit_id = int(result.get("auditId") or 0) or goods.audit_id
    goods.audit_status = LiveGoods.Audit.IN_REVIEW
    LiveGoods.objects.filter(pk=goods.pk).update(audit_id=goods.audit_id, audit_status=goods.audit_status)
    return goods


def goods_update(*, goods: LiveGoods, **changes) -> LiveGoods:
    """Change name, prices or url (not in review). WeChat audits a renamed product again."""
    allowed = {"name", "price_fen", "price2_fen", "price_type", "url"}
    unknown = set(changes) - allowed
    if unknown:
        raise ApplicationError(
            _("Some fields cannot be edited."),
            code="not_editable",
            fields={k: ["not editable"] for k in sorted(unknown)},
        )
    if goods.audit_status == LiveGoods.Audit.IN_REVIEW:
        raise Conflict(_("These goods are in review."), code="live_audit_state")
    for key, value in changes.items():
        setattr(goods, key, value)
    _check_prices(price_type=goods.price_type, price_fen=goods.price_fen, price2_fen=goods.price2_fen)
    goods.full_clean()
    info = {**_wechat_goods(goods), "goodsId": goods.wechat_goods_id}
    info.pop("coverImgUrl", None)
    live_call(live_api().goods_update, info)
    if "name" in changes and goods.audit_status == LiveGoods.Audit.APPROVED:
        goods.audit_status = LiveGoods.Audit.NOT_REVIEWED
        changes["audit_status"] = goods.audit_status
    with transaction.atomic():
        goods.save(update_fields=sorted(changes))
    return goods


def goods_delete(*, goods: LiveGoods) -> None:
    """Delete goods (not while in review: 300014); goods WeChat no longer knows are deleted here too."""
    try:
        live_call(live_api().goods_delete, goods.wechat_goods_id)
    except LiveWeChatError as exc:
        if exc.errcode != 300024:
            raise
    LiveGoods.objects.filter(pk=goods.pk).delete()


def goods_sync_audit() -> int:
    """Read audit states of goods not yet decided (not reviewed or in review) back from WeChat; returns how many
    changed. Called by the periodic sync."""
    pending = list(
        LiveGoods.objects.filter(
            wechat_goods_id__isnull=False, audit_status__in=[LiveGoods.Audit.NOT_REVIEWED, LiveGoods.Audit.IN_REVIEW]
        ).order_by("pk")
    )
    if not pending:
        return 0
    api = live_api()
    by_wechat = {g.wechat_goods_id: g for g in pending}
    changed = 0
    ids = list(by_wechat)
    for start in range(0, len(ids), WAREHOUSE_PAGE):
        result = live_call(api.goods_warehouse, ids[start : start + WAREHOUSE_PAGE])
        for row in result.get("goods", []):
            goods = by_wechat.get(int(row.get("goods_id", 0)))
            status = int(row.get("audit_status", -1))
            if goods is not None and status in LiveGoods.Audit.values and status != goods.audit_status:
                changed += LiveGoods.objects.filter(pk=goods.pk).update(audit_status=status)
    return changed

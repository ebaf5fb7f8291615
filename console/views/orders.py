"""Orders: list with filters, an order's lines and events, its fulfilment steps and refund requests to approve or
reject. Reads through miniprograms.selectors (scoped), writes through miniprograms.services."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from console.selectors import keyset_page
from console.views.base import ConsoleView, int_or_none
from core.errors import ApplicationError
from miniprograms.models import Order
from miniprograms.selectors import (
    order_get_for_scope,
    orders_for_scope,
    refund_get_for_scope,
    store_get_for_scope,
    stores_for_scope,
)
from miniprograms.services.orders import order_fulfilment_advance, order_fulfilment_next
from miniprograms.services.refunds import (
    AbnormalResolution,
    refund_abnormal_resolve,
    refund_approve,
    refund_goods_received,
    refund_reject,
)


class OrderListView(ConsoleView):
    def get(self, request):
        qs = orders_for_scope(self.scope).prefetch_related(None).select_related("member")
        status = request.GET.get("status", "")
        if request.GET.get("refunds"):
            status = Order.Status.REFUNDING
        if status in Order.Status.values:
            qs = qs.filter(status=status)
        channel = request.GET.get("channel", "")
        if channel in Order.Channel.values:
            qs = qs.filter(channel=channel)
        store_id = int_or_none(request.GET.get("store"))
        if store_id:
            qs = qs.filter(store_id=store_get_for_scope(self.scope, store_id).pk)
        number = request.GET.get("number", "").strip()
        if number:
            qs = qs.filter(number=number)
        orders, next_before = keyset_page(qs, before=int_or_none(request.GET.get("before")))
        query = request.GET.copy()
        query.pop("before", None)
        return self.page(
            "console/orders/list.html",
            section="orders",
            orders=orders,
            next_before=next_before,
            query=query.urlencode(),
            status=status,
            channel=channel,
            store_id=store_id,
            number=number,
            statuses=Order.Status.values,
            channels=Order.Channel.values,
            stores=stores_for_scope(self.scope),
        )


class OrderDetailView(ConsoleView):
    def get(self, request, order_id: int):
        order = order_get_for_scope(self.scope, order_id)
        return self.page(
            "console/orders/detail.html",
            section="orders",
            order=order,
            next_steps=order_fulfilment_next(order=order),
            refunds=order.refunds.order_by("-id"),
        )


class OrderFulfilmentView(ConsoleView):
    def post(self, request, order_id: int):
        order = order_get_for_scope(self.scope, order_id)
        order_fulfilment_advance(
            order=order, to_status=request.POST.get("status", ""), note=request.POST.get("note", "")[:200]
        )
        messages.success(request, _("Fulfilment step saved."))
        return HttpResponseRedirect(reverse("console:order", args=[order.pk]))


class RefundDecideView(ConsoleView):
    """A refund's buttons on the order page: approve (or send a failed one again), reject, the returned goods are
    in the store (the money goes back), and the two ways out of a refund WeChat reported abnormal. A refund outside
    the caller's stores is a 404; WeChat failing is shown as the page's error message, the refund kept retryable."""

    def post(self, request, refund_id: int, decision: str):
        refund = refund_get_for_scope(self.scope, refund_id)
        note = request.POST.get("note", "")[:200]
        if decision == "approve":
            done = refund_approve(refund=refund, actor_id=request.user.id)
            if done.status == done.Status.APPROVED:
                messages.success(request, _("Return approved: refund once the goods are back in the store."))
            else:
                messages.success(request, _("Refund approved: the money goes back to the member."))
        elif decision == "reject":
            refund_reject(refund=refund, actor_id=request.user.id, note=note)
            messages.success(request, _("Refund rejected."))
        elif decision == "goods-received":
            refund_goods_received(refund=refund, actor_id=request.user.id)
            messages.success(request, _("Goods received: the money goes back to the member."))
        elif decision in ("abnormal-offline", "abnormal-to-bank"):
            resolution = AbnormalResolution.OFFLINE if decision == "abnormal-offline" else "merchant_bank_card"
            refund_abnormal_resolve(refund=refund, actor_id=request.user.id, resolution=resolution, note=note)
            messages.success(request, _("Abnormal refund resolved."))
        else:
            raise ApplicationError("Unknown decision.")
        return HttpResponseRedirect(reverse("console:order", args=[refund.order_id]))

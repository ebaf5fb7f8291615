"""HQ pushes a product to every shop of a big brand (20,000 shops) as a background job with progress.

`shop_push_start` records the job and queues it after commit; `shop_push_run` (the worker) takes the shops in id
order, `BATCH_SHOPS` at a time, and writes each batch with one set-based statement in the same
transaction as the job's progress. Promises: a batch is applied at most once even if the task is delivered twice
(the job row is locked and its `last_shop_id` moves with the batch); a worker killed midway loses only its open
batch, and the next delivery resumes after the last committed one.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import NotFound
from core.tasks import enqueue, sends_repeat_stale
from miniprograms.models import Product, Shop, ShopPush
from miniprograms.services.catalog import shop_skus_upsert

BATCH_SHOPS = 2000


def _target_shops(push: ShopPush):
    shops = Shop.objects.all()
    if push.shop_ids is not None:
        shops = shops.filter(pk__in=push.shop_ids)
    return shops


@transaction.atomic
def shop_push_start(
    *,
    product: Product,
    shop_ids: list[int] | None = None,
    price_fen: int | None = None,
    stock: int | None = None,
    user_id: int | None = None,
) -> ShopPush:
    """Record a push of `product` to `shop_ids` (None: every shop) and queue it. Unknown shop ids are a 404."""
    if shop_ids is not None:
        shop_ids = sorted(set(shop_ids))
        found = set(Shop.objects.filter(pk__in=shop_ids).values_list("pk", flat=True))
        if len(found) != len(shop_ids):
            raise NotFound(_("No such shop."), fields={"shop_ids": sorted(set(shop_ids) - found)})
    push = ShopPush(product=product, shop_ids=shop_ids, price_fen=price_fen, stock=stock, created_by_id=user_id)
    push.total_shops = _target_shops(push).count()
    push.sent_at = timezone.now()
    push.full_clean()
    push.save()
    enqueue("miniprograms.shop_push_run", push.pk)
    return push


def shop_push_sent(*, push_id: int) -> None:
    """The task queued the rest of the push in a new message (see shop_push_run's task): when, for the sweep."""
    ShopPush.objects.filter(pk=push_id).exclude(status=ShopPush.Status.DONE).update(sent_at=timezone.now())
    enqueue("miniprograms.shop_push_run", push_id)


def shop_pushes_send_stuck(*, now=None, older_than: timedelta = timedelta(minutes=10), limit: int = 100) -> int:
    """The periodic sweep: send again the run of pushes not done a while after their run was last sent (the send
    failed after the commit, which core.tasks.enqueue logs rather than raises; the message was lost; the worker was
    killed). A run sent twice is safe: each batch locks the push and moves its progress. Returns how many."""
    return sends_repeat_stale(
        ShopPush.objects.exclude(status=ShopPush.Status.DONE),
        field="sent_at",
        task="miniprograms.shop_push_run",
        now=now or timezone.now(),
        older_than=older_than,
        limit=limit,
    )


def shop_push_run(*, push_id: int, batch: int = BATCH_SHOPS, max_batches: int | None = None) -> ShopPush:
    """Apply the push batch by batch until every target shop is done, or `max_batches` were applied (the task
    then queues itself again, so one big brand's push never holds a worker for long). Safe to call again, or
    twice at once, at any time."""
    applied = 0
    while True:
        if max_batches is not None and applied >= max_batches:
            return ShopPush.objects.get(pk=push_id)
        applied += 1
        with transaction.atomic():
            push = ShopPush.objects.select_for_update().get(pk=push_id)
            if push.status == ShopPush.Status.DONE:
                return push
            ids = list(
                _target_shops(push).filter(pk__gt=push.last_shop_id).order_by("pk").values_list("pk", flat=True)[:batch]
            )
            if ids:
                push.written += shop_skus_upsert(
                    product_id=push.product_id, shop_ids=ids, stock=push.stock, price_fen=push.price_fen
                )
                push.last_shop_id = ids[-1]
                push.done_shops = min(push.done_shops + len(ids), push.total_shops)
                push.status = ShopPush.Status.RUNNING
            if len(ids) < batch:
                push.status = ShopPush.Status.DONE
                push.done_shops = push.total_shops
                push.finished_at = timezone.now()
            push.save(update_fields=["written", "last_shop_id", "done_shops", "status", "finished_at"])
            if push.status == ShopPush.Status.DONE:
                return push

"""End-to-end flows in the browser: a refund approved by the store manager, a member import watched to 100 %."""

from __future__ import annotations

from pathlib import Path

import pytest
from django_tenants.utils import schema_context

from members.models import Member, MemberImport
from members.services.imports import CHUNK_MAX_BYTES
from miniprograms.models import Order, Refund, Shop, ShopSku
from tests.console.conftest import login, paid_order_with_refund_request


def test_store_manager_approves_a_refund_end_to_end(browse, console_world, fake_wechat):
    # given Alice paid ¥18.00 for two teas in S1's shop and asks for her money back
    order, refund, stock_before = paid_order_with_refund_request(console_world, fake_wechat)
    page = browse(console_world.brand)
    login(page, "m1", console_world.manager_password)
    # when the manager of S1 finds it among the refunds waiting and approves it
    page.goto("/console/orders/?refunds=1")
    page.get_by_role("link", name=order.number).click()
    assert page.get_by_test_id("order-status").inner_text() == "退款申请中"
    page.get_by_test_id("refund-approve").click()
    page.wait_for_load_state("networkidle")
    # then the page says so, in Chinese
    assert "已同意退款" in page.locator(".messages").inner_text()
    assert page.get_by_test_id("order-status").inner_text() == "已退款"
    assert page.get_by_test_id(f"refund-{refund.pk}").get_by_test_id("refund-status").inner_text() == "已退款"
    # and the money went back through WeChat Pay, once, and the stock is back on the shelf
    assert fake_wechat.state["pay_orders"][order.number]["trade_state"] == "REFUND"
    assert list(fake_wechat.state["pay_orders"][order.number]["refunds"]) == [refund.number]
    with schema_context(console_world.schema):
        refund.refresh_from_db()
        assert refund.status == Refund.Status.SUCCEEDED
        assert Order.objects.get(pk=order.pk).status == Order.Status.REFUNDED
        assert ShopSku.objects.get(shop=console_world.shop1, sku=console_world.sku).stock == stock_before + 2
    # and the approve button is gone (a second approval is not offered)
    assert page.get_by_test_id("refund-approve").count() == 0


def test_manager_of_another_franchisee_cannot_see_or_decide_the_refund(browse, console_world, fake_wechat):
    order, refund, _ = paid_order_with_refund_request(console_world, fake_wechat)
    page = browse(console_world.brand)
    login(page, "m2", console_world.manager_password)
    assert page.goto(f"/console/orders/{order.pk}/").status == 404
    page.goto("/console/orders/?refunds=1")
    assert order.number not in page.content()
    # a forged form post to the approve URL is a 404 too, and nothing changes
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', headers: {'X-CSRFToken':
        document.querySelector('[name=csrfmiddlewaretoken]').value}})).status""",
        f"/console/refunds/{refund.pk}/approve",
    )
    assert status == 404
    with schema_context(console_world.schema):
        refund.refresh_from_db()
        assert refund.status == Refund.Status.REQUESTED


def _csv(rows: int, bad_every: int) -> tuple[bytes, list[int]]:
    """A member CSV of `rows` rows; every `bad_every`-th has a phone that is not a mobile. Returns the bad lines."""
    lines = ["手机号,姓名,性别,生日"]
    bad = []
    for n in range(rows):
        if n % bad_every == bad_every - 1:
            lines.append(f"12345,坏号码{n},女,1990-01-01")
            bad.append(n + 2)  # the header is line 1
        else:
            lines.append(f"139{n:08d},会员{n},女,1990-01-01")
    return ("\n".join(lines) + "\n").encode(), bad


@pytest.mark.worker
def test_member_import_uploads_in_chunks_progress_reaches_100_and_the_error_report_downloads(
    browse, console_world, celery_worker_process
):
    # over 1 MB: the page's script sends it in two chunks; six batches of 5,000 rows at the worker
    content, bad_lines = _csv(30_000, bad_every=3000)
    assert len(content) > CHUNK_MAX_BYTES
    page = browse(console_world.brand)
    login(page, "hq", console_world.hq_password)
    page.goto("/console/members/imports/")
    page.get_by_test_id("import-file").set_input_files(
        files=[{"name": "会员.csv", "mimeType": "text/csv", "buffer": content}]
    )
    page.click("form button[type=submit].primary")
    page.wait_for_url("**/console/members/imports/*/")
    # every value the bar shows, as htmx swaps it in
    page.evaluate("""() => { window.seen = [document.querySelector('[data-testid=import-bar]')
                                .getAttribute('aria-valuenow')];
        document.body.addEventListener('htmx:afterSwap', () => window.seen.push(
            document.querySelector('[data-testid=import-bar]').getAttribute('aria-valuenow'))); }""")
    page.wait_for_function(
        "document.querySelector('[data-testid=import-percent]').innerText === '100%'", timeout=120_000
    )
    seen = [int(v) for v in page.evaluate("window.seen")]
    assert seen == sorted(seen) and seen[-1] == 100
    assert page.locator("[data-testid=import-bar] > div").evaluate("d => d.style.width") == "100%"
    assert page.get_by_test_id("import-status").inner_text() == "已完成"
    assert page.get_by_test_id("import-failed").inner_text() == str(len(bad_lines))
    # the per-row error report downloads as CSV, one line per bad row
    with page.expect_download() as download:
        page.get_by_test_id("import-errors").click()
    report = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert report[0] == "行号,错误"
    assert [int(line.split(",", 1)[0]) for line in report[1:]] == bad_lines
    assert all("phone" in line for line in report[1:])
    with schema_context(console_world.schema):
        imp = MemberImport.objects.order_by("-id").first()
        assert (imp.rows_processed, imp.rows_created, imp.rows_failed) == (
            30_000,
            30_000 - len(bad_lines),
            len(bad_lines),
        )
        assert imp.size_bytes == len(content) and imp.chunks.count() == 2
        assert Member.objects.filter(name="会员1").exists()


def test_manager_closes_and_reopens_a_shop_in_place(browse, console_world):
    page = browse(console_world.brand)
    login(page, "m1", console_world.manager_password)
    page.goto("/console/shops/")
    page.evaluate("window.sameDocument = true")
    row = page.locator(f"#shop-{console_world.shop1.pk}")
    row.get_by_test_id("shop-toggle").click()
    page.wait_for_function(
        f"document.querySelector('#shop-{console_world.shop1.pk} [data-testid=shop-state]').innerText === '已关闭'"
    )
    assert page.evaluate("window.sameDocument") is True  # htmx swapped the row; no page load
    with schema_context(console_world.schema):
        assert Shop.objects.get(pk=console_world.shop1.pk).is_open is False
    row.get_by_test_id("shop-toggle").click()
    page.wait_for_function(
        f"document.querySelector('#shop-{console_world.shop1.pk} [data-testid=shop-state]').innerText === '营业中'"
    )
    with schema_context(console_world.schema):
        assert Shop.objects.get(pk=console_world.shop1.pk).is_open is True


def test_store_manager_approves_a_return_then_marks_the_goods_received(browse, console_world, fake_wechat):
    # given Alice picked up two teas in S1's shop and asks to send them back
    order, refund, stock_before = paid_order_with_refund_request(console_world, fake_wechat, return_goods=True)
    page = browse(console_world.brand)
    login(page, "m1", console_world.manager_password)
    page.goto(f"/console/orders/{order.pk}/")
    assert page.get_by_test_id("refund-goods-received").count() == 0  # not before the return is approved
    # when the manager approves the return: no money yet, the goods are awaited
    page.get_by_test_id("refund-approve").click()
    page.wait_for_load_state("networkidle")
    assert "退货已同意" in page.locator(".messages").inner_text()
    assert page.get_by_test_id(f"refund-{refund.pk}").get_by_test_id("refund-status").inner_text() == "已批准"
    assert fake_wechat.state["pay_orders"][order.number]["refunds"] == {}
    with schema_context(console_world.schema):
        assert ShopSku.objects.get(shop=console_world.shop1, sku=console_world.sku).stock == stock_before
    # when the goods are back in the store and the manager presses "goods received"
    page.get_by_test_id("refund-goods-received").click()
    page.wait_for_load_state("networkidle")
    # then the money goes back through WeChat Pay once, the goods are back on the shelf, the button is gone
    assert "已收到退货" in page.locator(".messages").inner_text()
    assert page.get_by_test_id(f"refund-{refund.pk}").get_by_test_id("refund-status").inner_text() == "已退款"
    assert list(fake_wechat.state["pay_orders"][order.number]["refunds"]) == [refund.number]
    assert page.get_by_test_id("refund-goods-received").count() == 0
    with schema_context(console_world.schema):
        refund.refresh_from_db()
        assert refund.status == Refund.Status.SUCCEEDED and refund.goods_received_at is not None
        assert ShopSku.objects.get(shop=console_world.shop1, sku=console_world.sku).stock == stock_before + 2
        assert list(Order.objects.get(pk=order.pk).events.values_list("status", flat=True))[-3:] == [
            "refund_approved",
            "goods_received",
            "refunded",
        ]


def test_another_franchisees_manager_cannot_mark_the_goods_received(browse, console_world, fake_wechat):
    order, refund, _ = paid_order_with_refund_request(console_world, fake_wechat, return_goods=True)
    with schema_context(console_world.schema):
        from miniprograms.services.refunds import refund_approve

        refund_approve(refund=refund, actor_id=None)
    page = browse(console_world.brand)
    login(page, "m2", console_world.manager_password)
    assert page.goto(f"/console/orders/{order.pk}/").status == 404
    page.goto("/console/orders/")
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', headers: {'X-CSRFToken':
        document.querySelector('[name=csrfmiddlewaretoken]').value}})).status""",
        f"/console/refunds/{refund.pk}/goods-received",
    )
    assert status == 404
    with schema_context(console_world.schema):
        refund.refresh_from_db()
        assert (refund.status, refund.goods_received_at) == (Refund.Status.APPROVED, None)
    assert fake_wechat.state["pay_orders"][order.number]["refunds"] == {}

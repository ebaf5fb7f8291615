"""Browser tests of the console: a real HTTP server (this process, a thread per request, committed data) and a
headless Chromium driven by Playwright's sync API.

Chromium: Playwright's own where `playwright install chromium` could download it, else the system's
(`chromium` on PATH or /usr/bin/chromium; `make browser` installs the OS package when it runs as root). Without
either, these tests FAIL saying how to get one; they are never skipped.

Brand hosts: the server listens on 127.0.0.1 and the browser asks for `<slug>.localhost:<port>`; Chromium maps
every *.localhost name to 127.0.0.1 (--host-resolver-rules), so the brand middleware routes by Host as in
production.

A failed browser test leaves a screenshot of its page in test-artifacts/console/ (git-ignored).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.utils import timezone

from ekr.locale_build import compile_all

# The shops tests' brand world (franchisees F1/F2, stores S0/S1/S2, managers m1/m2, shops, a product, Alice and
# Bob), in a per-test transaction: for the page tests that need no browser.
from tests.miniprograms.conftest import world, world_b  # noqa: F401

# Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make between browser steps
# are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP *.localhost 127.0.0.1",
]
NO_BROWSER = (
    "No Chromium for the console's browser tests. Get one with `make browser`, which tries "
    "`.venv/bin/python -m playwright install chromium` and then the OS package (as root: `apt-get install "
    "chromium`), or point EKR_CHROMIUM at a Chromium binary."
)


def chromium_executable(playwright) -> str | None:
    """None: Playwright's own browser; else the path of a system Chromium. Fails the test when there is none."""
    wanted = os.environ.get("EKR_CHROMIUM")
    if wanted:
        if not os.access(wanted, os.X_OK):
            pytest.fail(f"EKR_CHROMIUM={wanted} is not an executable. " + NO_BROWSER)
        return wanted
    try:
        if Path(playwright.chromium.executable_path).exists():
            return None
    except Exception:
        pass
    for candidate in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(NO_BROWSER)


@pytest.fixture(scope="session")
def compiled_locale():
    compile_all(quiet=True)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def live_http(django_db_setup, compiled_locale):
    """The project's WSGI app (with static files) on 127.0.0.1, a thread per request. Yields its port."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False)
    server.daemon_threads = True
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    thread = threading.Thread(target=server.serve_forever, name="console-live-server", daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def chromium(live_http):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        executable = chromium_executable(playwright)
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
    except Exception as exc:
        playwright.stop()
        pytest.fail(f"Chromium did not start: {exc}\n{NO_BROWSER}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def browse(request, committed_db, chromium, live_http):
    """`browse(brand, width=1280)` opens a new browser context (its own cookies) on the brand's host; every page it
    opened is screenshotted into test-artifacts/console/ when the test fails."""
    contexts = []

    def open_page(brand, *, width: int = 1280, height: int = 900, locale: str = "zh-CN"):
        context = chromium.new_context(
            base_url=f"http://{brand.slug}.localhost:{live_http}",
            viewport={"width": width, "height": height},
            locale=locale,
            accept_downloads=True,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for n, context in enumerate(contexts):
        if failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for m, page in enumerate(context.pages):
                try:
                    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{n}-{m}.png"), full_page=True)
                except Exception:
                    pass
        context.close()


def login(page, username: str, password: str, *, next_path: str = "") -> None:
    page.goto("/console/login/" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_load_state("networkidle")


@pytest.fixture(scope="module")
def console_world(django_db_setup, django_db_blocker, fake_wechat):
    """A brand of its own (committed): HQ user `hq`, franchisees F1/F2 with stores S1/S2 and managers m1/m2,
    a direct store S0, shops, a product, members Alice and Bob (home store S1), a guide at S1 with a login."""
    from django.db import connection
    from django_tenants.utils import schema_context

    from members.selectors import phone_hash
    from members.services import guide_login_grant
    from tenants.services import brand_create, wechat_app_add
    from tests.conftest import BRAND_PASSWORD
    from tests.miniprograms.conftest import PW, build_world

    with django_db_blocker.unblock():
        slug = f"con{uuid.uuid4().hex[:8]}"
        brand = brand_create(slug=slug, name="云裳测试", admin_username="hq", admin_password=BRAND_PASSWORD)
        wechat_app_add(brand=brand, appid=f"wxc{uuid.uuid4().hex[:15]}", secret="s3cret", token="tok", aes_key="k" * 43)
        connection.set_schema_to_public()
        world = build_world(brand, fake_wechat)
        with schema_context(brand.schema_name):
            from members.models import Member
            from miniprograms.services.pos import pos_orders_record

            Member.objects.filter(pk=world.alice.pk).update(
                store=world.s1, phone="13800138000", phone_hash=phone_hash("13800138000")
            )
            Member.objects.filter(pk=world.bob.pk).update(store=world.s2)
            guide_login_grant(guide=world.guide, username="guide1", password="guide-password-1")
            now = timezone.now()
            for store, days_ago, fen in ((world.s1, 0, 12_300), (world.s1, 2, 45_600), (world.s2, 1, 99_900)):
                pos_orders_record(
                    store=store,
                    receipts=[
                        {
                            "receipt_no": f"R{store.code}{days_ago}",
                            "sold_at": now - dt.timedelta(days=days_ago),
                            "lines": [{"sku_code": world.sku.code, "unit_price_fen": fen, "quantity": 1}],
                        }
                    ],
                )
            # the analytics app's hourly rollup, for the days with sales
            from analytics.rollup import rollup_day

            today = timezone.localtime(now).date()
            for days_ago in range(3):
                rollup_day(today - dt.timedelta(days=days_ago))
        connection.set_schema_to_public()
    return SimpleNamespace(
        **vars(world), hq_password=BRAND_PASSWORD, manager_password=PW, guide_password="guide-password-1"
    )


def paid_order_with_refund_request(w, fake, *, return_goods: bool = False):
    """Alice pays for two of the world's SKU in S1's shop through the fake WeChat Pay, then asks for a refund (with
    the goods sent back, when `return_goods`: picked up first, then returned)."""
    from django_tenants.utils import schema_context

    from miniprograms.models import ShopSku
    from miniprograms.services.orders import order_place
    from miniprograms.services.payments import order_mark_paid_from_notification, order_prepay
    from miniprograms.services.refunds import refund_request
    from tests.miniprograms.conftest import MCH_KEY

    fake.merchant(w.app.mch_id, MCH_KEY, w.app.appid)
    with schema_context(w.schema):
        order = order_place(
            member=w.alice, shop=w.shop1, items=[{"sku_id": w.sku.pk, "quantity": 2}], appid=w.app.appid
        )
        order_prepay(member=w.alice, order=order, openid=w.alice.openid)
        assert order_mark_paid_from_notification(data=fake.pay_notification(order.number)) == "paid"
        if return_goods:
            from miniprograms.models import Order

            Order.objects.filter(pk=order.pk).update(fulfilment_status=Order.FulfilmentStatus.PICKED_UP)
        refund = refund_request(member=w.alice, order_id=order.pk, reason="尺码不合适", return_goods=return_goods)
        stock = ShopSku.objects.get(shop=w.shop1, sku=w.sku).stock
    return order, refund, stock

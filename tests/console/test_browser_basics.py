"""The console in a real browser: log-in, language, who may open what, the dashboard's chart, the phone width."""

from __future__ import annotations

from django_tenants.utils import schema_context

from miniprograms.models import Order
from tests.console.conftest import ARTIFACTS, login


def test_manager_logs_in_to_a_chinese_dashboard_with_a_chart(browse, console_world):
    # given a store manager of F1 (store S1 sold ¥123.00 today and ¥456.00 two days ago; S2 is F2's)
    page = browse(console_world.brand)
    # when they log in
    login(page, "m1", console_world.manager_password)
    # then the dashboard is in Chinese by default, with their stores' figures only
    assert page.url.endswith("/console/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("h1").inner_text() == "概览"
    assert page.get_by_test_id("kpi-sales").inner_text() == "¥579.00"
    assert page.get_by_test_id("kpi-orders").inner_text() == "2"
    # and the chart has a bar per day, two of them taller than the empty days' 1 px
    heights = [
        float(h)
        for h in page.locator("[data-testid=sales-chart] svg rect.bar").evaluate_all(
            "bars => bars.map(b => b.getBBox().height)"
        )
    ]
    assert len(heights) == 7
    drawn = [h for h in heights if h > 1]
    assert len(drawn) == 2
    assert abs(min(drawn) / max(drawn) - 123 / 456) < 0.01
    assert page.locator("[data-testid=sales-chart] svg polyline").count() == 1
    # and new members per day: Alice (S1) joined today; Bob is F2's
    joined = page.locator("[data-testid=members-chart] svg rect.bar").evaluate_all(
        "bars => bars.map(b => Number(b.dataset.value))"
    )
    assert joined == [0, 0, 0, 0, 0, 0, 1]
    # and the analytics app's rollups for the same stores: GMV per day, non-members' here (POS without a member)
    assert page.get_by_test_id("an-gmv").inner_text() == "¥579.00"
    gmv = page.locator("[data-testid=gmv-chart] rect.bar").evaluate_all(
        "bars => bars.map(b => Number(b.dataset.value))"
    )
    assert gmv == [0, 0, 0, 0, 45_600, 0, 12_300]


def test_hq_sees_the_brand_and_filters_by_franchisee(browse, console_world):
    page = browse(console_world.brand)
    login(page, "hq", console_world.hq_password)
    assert page.get_by_test_id("kpi-sales").inner_text() == "¥1,578.00"
    page.select_option("select[name=franchisee]", str(console_world.f2.pk))
    page.click("[data-testid=dashboard-filter] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("kpi-sales").inner_text() == "¥999.00"
    assert page.get_by_test_id("an-gmv").inner_text() == "¥999.00"
    page.select_option("select[name=franchisee]", "")
    page.select_option("select[name=store]", str(console_world.s1.pk))
    page.click("[data-testid=dashboard-filter] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("an-gmv").inner_text() == "¥579.00"


def test_english_after_the_switch_and_it_stays(browse, console_world):
    page = browse(console_world.brand)
    login(page, "m1", console_world.manager_password)
    assert page.locator("h1").inner_text() == "概览"
    page.get_by_test_id("lang-en").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Dashboard"
    page.goto("/console/members/")
    assert page.locator("h1").inner_text() == "Members"
    page.get_by_test_id("lang-zh-hans").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "会员"


def test_manager_opening_another_franchisees_member_gets_the_404_page(browse, console_world):
    page = browse(console_world.brand)
    login(page, "m1", console_world.manager_password)
    # Bob's home store is S2 (franchisee F2)
    response = page.goto(f"/console/members/{console_world.bob.pk}/")
    assert response.status == 404
    assert page.get_by_test_id("not-found").is_visible()
    assert "Bob" not in page.content()
    # ... and the same for an order and a shop of F2
    with schema_context(console_world.schema):
        order_s2 = Order.objects.get(store=console_world.s2)
    for path in (f"/console/shops/{console_world.shop2.pk}/", f"/console/orders/{order_s2.pk}/"):
        assert page.goto(path).status == 404
        assert order_s2.number not in page.content()
    # while their own member opens
    assert page.goto(f"/console/members/{console_world.alice.pk}/").status == 200
    assert page.get_by_test_id("member-name").inner_text() == "Alice"
    # the manager of F2 sees Bob
    other = browse(console_world.brand)
    login(other, "m2", console_world.manager_password)
    assert other.goto(f"/console/members/{console_world.bob.pk}/").status == 200


def test_guide_lands_on_their_own_page_and_cannot_open_staff_pages(browse, console_world):
    page = browse(console_world.brand)
    # even when the log-in link asked for a staff page
    login(page, "guide1", console_world.guide_password, next_path="/console/members/")
    assert page.url.endswith("/console/me/")
    assert page.get_by_test_id("guide-home").is_visible()
    for path in (
        "/console/",
        "/console/members/",
        f"/console/members/{console_world.alice.pk}/",
        "/console/orders/",
        "/console/pos-keys/",
        "/console/guides/",
    ):
        response = page.goto(path)
        assert response.status == 403, path
        assert page.get_by_test_id("forbidden").is_visible()
        assert "Alice" not in page.content()


def test_staff_cannot_open_the_guide_page_and_anonymous_users_go_to_log_in(browse, console_world):
    page = browse(console_world.brand)
    page.goto("/console/members/")
    assert page.url.endswith("/console/login/?next=%2Fconsole%2Fmembers%2F")
    login(page, "m1", console_world.manager_password)
    assert page.goto("/console/me/").status == 403


def test_five_wrong_passwords_lock_the_login(browse, console_world):
    page = browse(console_world.brand)
    for _ in range(5):
        login(page, "m2", "wrong-password")
        assert page.locator("p.error").is_visible()
    page.goto("/console/login/")
    page.fill("input[name=username]", "m2")
    page.fill("input[name=password]", console_world.manager_password)
    with page.expect_response(lambda r: r.url.endswith("/console/login/")) as locked:
        page.click("button[type=submit].primary")
    assert locked.value.status == 429
    assert page.locator("h1").inner_text() == "登录失败次数过多"


def test_dashboard_at_375_px_fits_the_screen(browse, console_world):
    page = browse(console_world.brand, width=375, height=812)
    login(page, "m1", console_world.manager_password)
    chart = page.locator("[data-testid=sales-chart] svg")
    assert chart.bounding_box()["width"] <= 375
    overflow = page.evaluate("document.scrollingElement.scrollWidth")
    if overflow > 375:  # keep the evidence: a screenshot of the page as a phone shows it
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-375.png"), full_page=True)
    assert overflow <= 375


def test_every_staff_page_fits_a_375_px_phone(browse, console_world):
    page = browse(console_world.brand, width=375, height=812)
    login(page, "hq", console_world.hq_password)
    with schema_context(console_world.schema):
        order = Order.objects.filter(store=console_world.s1).first()
    paths = [
        "/console/members/",
        f"/console/members/{console_world.alice.pk}/",
        "/console/members/imports/",
        "/console/orders/",
        f"/console/orders/{order.pk}/",
        "/console/shops/",
        f"/console/shops/{console_world.shop1.pk}/",
        "/console/coupons/",
        "/console/guides/",
        f"/console/guides/{console_world.guide.pk}/",
        "/console/pos-keys/",
        "/console/market/",
        "/console/live/",
    ]
    too_wide = {}
    for path in paths:
        assert page.goto(path).status == 200, path
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > 375:
            too_wide[path] = width
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"375{path.replace('/', '_')}.png"), full_page=True)
    assert too_wide == {}

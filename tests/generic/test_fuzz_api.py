"""Fuzzing the contract (schemathesis): every operation of the brand host's and the platform host's
/api/schema/ is called with generated requests, valid ones and invalid ones, as the right identity (a member's
session token for mp/, a guide's token for guide/, a store's POS key for pos/, the brand's HQ token for the staff
and console APIs, an ops token on the platform host), with seeded ids in every valid request so requests reach rows
that exist (invalid requests get generated ids). Each answer must be:

- no 500, and no other 5xx than those the operation documents (502: WeChat refused or did not answer; 503: a
  dependency is down) (`no_server_error` below);
- a status code, a content type and a body the schema documents for that operation (status_code_conformance,
  content_type_conformance, response_schema_conformance);
- every 4xx in the one error shape {"error": {"code", "message", "fields"}} (`error_shape` below);
- an invalid request (one that violates the schema) is refused with a 4xx (negative_data_rejection).

The budget is bounded and reproducible: EXAMPLES examples per operation and generation mode, derandomized, no
shrinking. Each request runs in the view's own savepoint, rolled back after it, so every example starts from the
seeded rows (the requests go through Django's WSGI handler in this thread, inside the test's transaction).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from contextlib import contextmanager

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import host_of
from tests.miniprograms.conftest import build_world
from tests.rights_market.factories import listing_make, offer_make

pytestmark = pytest.mark.django_db
EXAMPLES = 3  # per operation and generation mode (positive, negative): ~800 requests in all
OPS_PASSWORD = "ops-fuzz-horizon-42"


@schemathesis.check
def error_shape(ctx, response, case):
    """Every 4xx and 5xx is {"error": {"code": str, "message": str, "fields": object}}."""
    if response.status_code < 400 or (case.path == "/api/v1/health" and response.status_code == 503):
        return None
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} is not JSON: {response.content[:200]!r}") from exc
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict) and set(error) == {"code", "message", "fields"}, f"not the error shape: {body}"
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str), body
    assert isinstance(error["fields"], dict), body
    return True


@schemathesis.check
def no_server_error(ctx, response, case):
    """No 500 ever; another 5xx only where the operation documents it (an upstream failure, not ours)."""
    documented = case.operation.definition.raw.get("responses", {})
    assert response.status_code != 500, f"500: {response.content[:300]!r}"
    assert response.status_code < 500 or str(response.status_code) in documented, response.status_code
    return True


CHECKS = [negative_data_rejection, status_code_conformance, content_type_conformance, response_schema_conformance]


@contextmanager
def _requests_in_this_transaction():
    """Django closes connections around each request it handles; here they share the test's transaction (as
    Django's own test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(brand_a, brand_b, fake_wechat, client_for):
    """Brand A with a store, shop, SKU, members, an order and its refund, a guide with a login, a POS key, a live
    room and goods, a coupon template, a tag, an import; tokens for each identity."""
    from members.models import MemberImport, Tag
    from members.services import guide_login_grant
    from miniprograms.models import CouponTemplate, Order, Refund
    from miniprograms.services.pos import pos_api_key_create

    w = build_world(brand_a, fake_wechat)
    build_world(brand_b, fake_wechat)  # brand B's rows exist with ids of their own
    with schema_context(w.schema):
        w.order = Order.objects.create(
            number="NFUZZ1",
            store=w.s1,
            shop=w.shop1,
            member=w.alice,
            appid=w.app.appid,
            status=Order.Status.REFUNDING,
            subtotal_fen=1000,
            total_fen=1000,
            refunded_fen=1000,  # what refund_request books for the refund below
        )
        w.refund = Refund.objects.create(order=w.order, number="RFUZZ1", amount_fen=1000, reason="fuzz")
        w.pos_key = pos_api_key_create(store=w.s1)
        guide_login_grant(guide=w.guide, username="guide-fuzz", password="tea-leaf-horizon-42")
        from livestream.models import LiveGoods, LiveRoom

        now = timezone.now()
        w.room = LiveRoom.objects.create(
            name="Fuzz room",
            store=w.s1,
            shop=w.shop1,
            source="external",
            external_url="https://example.com/live",
            start_at=now,
            end_at=now + timezone.timedelta(hours=1),
        )
        w.goods = LiveGoods.objects.create(store=w.s1, name="Fuzz goods", price_fen=100, url="pages/p?id=1")
        w.template = CouponTemplate.objects.create(name="10 off", kind="amount_off", amount_off_fen=1000, total_stock=9)
        w.tag = Tag.objects.create(name="vip")
        w.member_import = MemberImport.objects.create(filename="m.csv")
    with schema_context("public"):
        get_user_model().objects.create_user(username="ops-fuzz", password=OPS_PASSWORD, is_staff=True)
    w.offer = offer_make(brand_a, stock=5)  # alpha issues; beta's offer is listed at alpha
    w.listing = listing_make(brand_a, offer_make(brand_b, stock=5))
    connection.set_schema_to_public()
    w.auth = {
        "member": f"Bearer {w.tokens[w.alice.pk]}",
        "guide": client_for(brand_a).as_staff("guide-fuzz", "tea-leaf-horizon-42")._credentials["HTTP_AUTHORIZATION"],
        "pos": f"PosKey {w.pos_key}",
        "hq": client_for(brand_a).as_staff(f"{brand_a.slug}-hq", "hq-password-1")._credentials["HTTP_AUTHORIZATION"],
        "ops": client_for(None).as_staff("ops-fuzz", OPS_PASSWORD)._credentials["HTTP_AUTHORIZATION"],
    }
    from core.models import ApiToken
    from miniprograms.models import PosApiKey

    connection.set_tenant(brand_a)
    w.ids = {
        "store_id": w.s1.pk,
        "shop_id": w.shop1.pk,
        "sku_id": w.sku.pk,
        "product_id": w.product.pk,
        "member_id": w.alice.pk,
        "guide_id": w.guide.pk,
        "order_id": w.order.pk,
        "refund_id": w.refund.pk,
        "room_id": w.room.pk,
        "goods_id": w.goods.pk,
        "template_id": w.template.pk,
        "tag_id": w.tag.pk,
        "import_id": w.member_import.pk,
        "seq": 0,
        "offer_id": w.offer.pk,
        "listing_id": w.listing.pk,
        "key_id": PosApiKey.objects.get(prefix=w.pos_key.split(".")[0]).pk,
        "token_id": ApiToken.objects.filter(user__username=f"{brand_a.slug}-hq").order_by("-id").first().pk,
    }
    connection.set_schema_to_public()
    assert all(w.auth.values()) and "refused" not in " ".join(w.auth.values())
    return w


def _identity(path: str) -> str:
    if path.startswith(("/api/v1/mp/", "/api/v1/market/mp/")):
        return "member"
    if path.startswith("/api/v1/guide/"):
        return "guide"
    if path.startswith("/api/v1/pos/"):
        return "pos"
    if path.startswith("/api/v1/ops/"):
        return "ops"
    return "hq"


def _schema(client) -> schemathesis.BaseSchema:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return schemathesis.openapi.from_dict(response.json())


def _fuzz(schema, host: str, world) -> tuple[int, Counter, list[str]]:
    app = WSGIHandler()
    failures: list[str] = []
    operations, statuses = 0, Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        headers = {"Authorization": world.auth[_identity(operation.path)]}
        known = {name: world.ids[name] for name in _path_names(operation.path) if name in world.ids}
        modes = [GenerationMode.POSITIVE]
        if list(operation.iter_parameters()) or len(operation.body):
            modes.append(GenerationMode.NEGATIVE)  # something to make invalid
        for mode in modes:
            if known and mode is GenerationMode.POSITIVE:  # valid requests reach seeded rows
                strategies = [operation.as_strategy(generation_mode=mode, path_parameters=known)]
            else:
                strategies = [operation.as_strategy(generation_mode=mode)]

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=st.one_of(strategies))
            def run(case):
                savepoint = transaction.savepoint()
                try:
                    response = case.call(app=app, base_url=f"http://{host}", headers=headers)
                finally:
                    transaction.savepoint_rollback(savepoint)
                statuses[response.status_code] += 1
                case.validate_response(
                    response, checks=CHECKS, additional_checks=[no_server_error, error_shape], headers=headers
                )

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                pass
            except (Exception, BaseExceptionGroup) as exc:  # each operation's failure is reported, the rest still run
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {exc}"[:3000])
    return operations, statuses, failures


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@pytest.mark.parametrize("host", ["brand", "platform"])
def test_fuzz_api(seeded, client_for, brand_a, host, capsys):
    brand = brand_a if host == "brand" else None
    schema = _schema(client_for(brand))  # (Django's test client connects close_old_connections again after it)
    started = time.process_time()
    with _requests_in_this_transaction():
        operations, statuses, failures = _fuzz(schema, host_of(brand), seeded)
    with capsys.disabled():
        print(
            f"\nfuzz {host} host: {operations} operations, {statuses.total()} requests "
            f"({', '.join(f'{code}: {n}' for code, n in sorted(statuses.items()))}), {len(failures)} failing, "
            f"{time.process_time() - started:.1f} s of CPU"
        )
    assert operations > (100 if host == "brand" else 5)
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)

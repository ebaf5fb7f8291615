"""Secrets and PII: run the main journeys on a brand of its own (committed), then scan every response, the logs,
the HQ and ops admin pages and a pg_dump of the test database for plaintext phones, the WeChat session_key, the
app secret, the message token, the EncodingAESKey and the merchant key."""

from __future__ import annotations

import logging
import subprocess
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from members.mp_auth import member_token_issue

PG_DUMP = Path(__file__).resolve().parents[2] / ".venv/lib/python3.11/site-packages/pgserver/pginstall/bin/pg_dump"


def _pg_dump(schema: str) -> str:
    db = settings.DATABASES["default"]
    cmd = [
        str(PG_DUMP),
        "--data-only",
        "--schema",
        schema,
        "--schema",
        "public",
        "--dbname",
        db["NAME"],
        "--username",
        db.get("USER") or "postgres",
    ]
    if db.get("HOST"):
        cmd += ["--host", db["HOST"]]
    if db.get("PORT"):
        cmd += ["--port", str(db["PORT"])]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_no_secret_or_phone_in_plaintext_anywhere(new_brand, client_for, fake_wechat, caplog):
    from members.services import guide_create, store_create
    from members.services.staff import staff_role_grant
    from miniprograms.services.pos import pos_api_key_create
    from tenants.services import wechat_app_add

    caplog.set_level(logging.DEBUG)
    tag = uuid.uuid4().hex[:6]
    secrets_ = {
        "app secret": f"appsecret{tag}XYZ",
        "token": f"msgtoken{tag}XYZ",
        "aes key": ("aeskey" + tag + "Q" * 43)[:43],
        "merchant key": f"mchkey{tag}" + "M" * 20,
        "session_key": f"sessionkey{tag}SK==",
    }
    phones = {
        "registered": "1380013" + str(int(tag, 16) % 10_000).zfill(4),
        "proven": "1390013" + str(int(tag, 16) % 10_000).zfill(4),
        "guide": "1370013" + str(int(tag, 16) % 10_000).zfill(4),
        "pos buyer": "1360013" + str(int(tag, 16) % 10_000).zfill(4),
    }
    brand = new_brand("scan", with_app=False)
    app = wechat_app_add(
        brand=brand,
        appid=f"wxscan{tag}000001",
        secret=secrets_["app secret"],
        token=secrets_["token"],
        aes_key=secrets_["aes key"],
        mch_id="1900" + tag,
        mch_key=secrets_["merchant key"],
    )
    fake_wechat.merchant(app.mch_id, secrets_["merchant key"], app.appid)
    responses = []
    client = client_for(brand)

    # a member logs in (WeChat hands over a session_key), registers with a typed phone, another with a proven one
    fake_wechat.codes["scan-code"] = {"openid": f"o-scan-{tag}", "session_key": secrets_["session_key"]}
    session = client.post("/api/v1/mp/session", {"appid": app.appid, "code": "scan-code"}, format="json")
    responses.append(session)
    member = client_for(brand).as_member(session.json()["token"])
    responses.append(member.post("/api/v1/mp/members", {"phone": phones["registered"], "name": "Scan"}, format="json"))
    responses.append(member.get("/api/v1/mp/me"))
    fake_wechat.phone_codes["scan-phone"] = (phones["proven"], app.appid)
    other = client_for(brand).as_member(
        member_token_issue(schema=brand.schema_name, appid=app.appid, openid=f"o-scan2-{tag}")
    )
    responses.append(other.post("/api/v1/mp/members", {"phone_code": "scan-phone"}, format="json"))

    # staff: a guide with a phone, a POS sale to a non-member phone
    with schema_context(brand.schema_name):
        store = store_create(code="SC1", name="Scan store")
        guide_create(store=store, name="Scan guide", employee_no="E-SCAN", phone=phones["guide"])
        pos_key = pos_api_key_create(store=store)
        hq = get_user_model().objects.get(username="hq")
        staff_role_grant(user=hq, role="hq")
    pos = client_for(brand)
    pos.credentials(HTTP_AUTHORIZATION=f"PosKey {pos_key}")
    responses.append(
        pos.post(
            "/api/v1/pos/orders",
            {"receipts": [{"receipt_no": "S1", "phone": phones["pos buyer"], "lines": []}]},
            format="json",
        )
    )
    staff = client_for(brand).as_staff("hq", "hq-password-1")
    responses += [staff.get("/api/v1/staff/members"), staff.get("/api/v1/staff/guides")]

    # admin pages: the brand's HQ admin and the platform's ops admin
    admin = client_for(brand)
    admin.post("/admin/login/?next=/admin/", {"username": "hq", "password": "hq-password-1"})
    pages = [admin.get("/admin/members/member/"), admin.get("/admin/members/guide/")]
    with schema_context(brand.schema_name):
        from members.models import Member

        pages += [admin.get(f"/admin/members/member/{m.pk}/change/") for m in Member.objects.all()]
    with schema_context("public"):
        get_user_model().objects.filter(username=f"ops-{tag}").delete()
        get_user_model().objects.create_superuser(f"ops-{tag}", password="ops-password-scan-1", email="")
    ops = client_for(None)
    ops.post("/admin/login/?next=/admin/", {"username": f"ops-{tag}", "password": "ops-password-scan-1"})
    pages += [ops.get("/admin/tenants/wechatapp/"), ops.get(f"/admin/tenants/wechatapp/{app.pk}/change/")]
    assert all(p.status_code == 200 for p in pages), [p.status_code for p in pages]

    places = {
        "responses": "\n".join(r.content.decode() for r in responses),
        "logs": caplog.text,
        "admin pages": "\n".join(p.content.decode() for p in pages),
        "pg_dump": _pg_dump(brand.schema_name),
    }
    found = [
        (what, where)
        for where, text in places.items()
        for what, value in {**secrets_, **{f"phone ({k})": v for k, v in phones.items()}}.items()
        if value in text
    ]
    leaks = [r for r in caplog.records if secrets_["app secret"] in r.getMessage()]
    assert found == [], [(r.name, r.levelname, r.getMessage()[:200]) for r in leaks]

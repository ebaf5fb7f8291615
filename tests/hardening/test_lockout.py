"""Defect 7: lockout per username across addresses (unlockable by ops), client address from a trusted header only."""

from django.core.management import call_command
from django.test import RequestFactory

from core.client_ip import client_ip

GOOD = {"username": "alpha-hq", "password": "hq-password-1"}


def _try(client, ip, password, header=None):
    extra = {"REMOTE_ADDR": "10.0.0.1"}
    extra[header or "REMOTE_ADDR"] = ip if header is None else f"1.2.3.4, {ip}"
    return client.post("/api/v1/auth/tokens", {"username": "alpha-hq", "password": password}, format="json", **extra)


def test_a_username_is_locked_after_failures_from_many_addresses_and_ops_can_unlock(brand_a, client_for, settings):
    settings.EKR_TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    client = client_for(brand_a)
    answers = [
        _try(client, f"203.0.113.{i + 1}", f"wrong-{i}-password", "HTTP_X_FORWARDED_FOR").status_code
        for i in range(settings.AXES_FAILURE_LIMIT)
    ]  # one guess from each of five addresses
    assert answers[:-1] == [401] * (settings.AXES_FAILURE_LIMIT - 1) and answers[-1] == 429
    # the right password from a sixth address is refused: the username is locked
    locked = _try(client, "203.0.113.99", GOOD["password"], "HTTP_X_FORWARDED_FOR")
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "locked_out"
    assert int(locked.headers["Retry-After"]) > 0
    # ops unlock it
    call_command("tenant_command", "axes_reset_username", "alpha-hq", schema="alpha")
    assert _try(client, "203.0.113.99", GOOD["password"], "HTTP_X_FORWARDED_FOR").status_code == 201


def test_the_forwarded_header_is_ignored_unless_configured():
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR="10.0.0.9")
    assert client_ip(request) == "10.0.0.9"


def test_only_the_entry_our_proxy_appended_is_believed(settings):
    settings.EKR_TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.EKR_TRUSTED_PROXY_COUNT = 1
    # the client sent "6.6.6.6" itself; our load balancer appended the address it saw
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7", REMOTE_ADDR="10.0.0.9")
    assert client_ip(request) == "198.51.100.7"
    settings.EKR_TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="198.51.100.7, 10.1.1.1", REMOTE_ADDR="10.0.0.9")
    assert client_ip(request) == "198.51.100.7"
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="garbage", REMOTE_ADDR="10.0.0.9")
    settings.EKR_TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "10.0.0.9"

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
    per_address = settings.AXES_FAILURE_LIMIT - 1  # each address stays under its own limit
    addresses = -(-settings.EKR_LOGIN_USERNAME_FAILURE_LIMIT // per_address)
    answers = [
        _try(client, f"203.0.113.{a + 1}", f"wrong-{a}-{i}-password", "HTTP_X_FORWARDED_FOR").status_code
        for a in range(addresses)
        for i in range(per_address)
    ][: settings.EKR_LOGIN_USERNAME_FAILURE_LIMIT]
    assert answers[:-1] == [401] * (len(answers) - 1) and answers[-1] == 429
    # the right password from yet another address is refused: the username is locked
    locked = _try(client, "203.0.113.99", GOOD["password"], "HTTP_X_FORWARDED_FOR")
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "locked_out"
    assert int(locked.headers["Retry-After"]) > 0
    # ops unlock it
    call_command("tenant_command", "axes_reset_username", "alpha-hq", schema="alpha")
    assert _try(client, "203.0.113.99", GOOD["password"], "HTTP_X_FORWARDED_FOR").status_code == 201


def test_one_address_locks_itself_long_before_the_username_is_locked(brand_a, client_for, settings):
    # given the per-username limit is its own, larger setting
    assert settings.EKR_LOGIN_USERNAME_FAILURE_LIMIT > settings.AXES_FAILURE_LIMIT
    settings.EKR_TRUSTED_PROXY_HEADER = "HTTP_X_FORWARDED_FOR"
    client = client_for(brand_a)
    # when one address guesses wrong AXES_FAILURE_LIMIT times
    answers = [
        _try(client, "198.51.100.5", f"wrong-{i}-password", "HTTP_X_FORWARDED_FOR").status_code
        for i in range(settings.AXES_FAILURE_LIMIT)
    ]
    # then that address is locked, even with the right password
    assert answers == [401] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    assert _try(client, "198.51.100.5", GOOD["password"], "HTTP_X_FORWARDED_FOR").status_code == 429
    # and the colleague at another address still logs in: the username is not locked by five guesses
    assert _try(client, "198.51.100.6", GOOD["password"], "HTTP_X_FORWARDED_FOR").status_code == 201


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

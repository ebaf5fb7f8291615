"""The WeChat session_key is kept only as a keyed hash: after a login, no Redis key or value holds it (nor the
openid) in plaintext, and the stored hash still tells the right session_key from another."""

import uuid

import redis
from django.conf import settings
from django_tenants.utils import schema_context

from members.services.sessions import member_session_key_matches

APPID_A = "wxalpha000000000001"


def _everything_in_redis() -> bytes:
    client = redis.Redis.from_url(settings.REDIS_URL)
    dump = []
    for key in client.scan_iter(count=1000):
        dump.append(key)
        kind = client.type(key)
        if kind == b"string":
            dump.append(client.get(key) or b"")
        elif kind == b"hash":
            dump += [b for pair in client.hgetall(key).items() for b in pair]
        elif kind in (b"list",):
            dump += client.lrange(key, 0, -1)
        elif kind in (b"set",):
            dump += list(client.smembers(key))
        elif kind == b"zset":
            dump += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == b"stream":
            dump += [repr(e).encode() for e in client.xrange(key)]
    return b"\n".join(dump)


def test_session_key_is_stored_as_a_keyed_hash_only(brand_a, client_for, fake_wechat):
    # given WeChat hands a session_key over at login
    tag = uuid.uuid4().hex[:8]
    session_key, openid = f"SK{tag}secret==", f"o-rest-{tag}"
    fake_wechat.codes[f"code-{tag}"] = {"openid": openid, "session_key": session_key}

    # when the member logs in
    response = client_for(brand_a).post("/api/v1/mp/session", {"appid": APPID_A, "code": f"code-{tag}"}, format="json")
    assert response.status_code == 200, response.content

    # then no Redis key or value holds the session_key or the openid in plaintext
    everything = _everything_in_redis()
    assert session_key.encode() not in everything
    assert openid.encode() not in everything
    # and what is stored still tells the right session_key from another
    with schema_context(brand_a.schema_name):
        assert member_session_key_matches(appid=APPID_A, openid=openid, session_key=session_key)
        assert not member_session_key_matches(appid=APPID_A, openid=openid, session_key=session_key + "x")
        assert not member_session_key_matches(appid=APPID_A, openid=openid + "x", session_key=session_key)

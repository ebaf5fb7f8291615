"""Handlers the callback tests register (loaded through EKR_CALLBACK_HANDLER_MODULES in the test settings, so a
real worker process has them too).

`event.ekr_test_effect` inserts one row into `cb_test_effect` of the schema it runs in (the table exists only in
brands a test prepared with `effect_table_create`), so a test can count effects per brand. EventKey steers it:
    "sleep-first:<s>"  sleep s seconds on the first attempt, after writing (a worker killed then loses the write)
    "fail:<n>"         raise on the first n attempts
    "block-first"      on the first attempt, after writing, wait (at most 60 s) until the test calls `release`
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection

from callbacks.registry import register

EFFECT_KIND = "event.ekr_test_effect"


def effect_table_create(schema: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".cb_test_effect '
            "(id serial PRIMARY KEY, event_id bigint NOT NULL, schema_name text NOT NULL)"
        )


def effects(schema: str, event_id: int | None = None) -> list[tuple[int, str]]:
    with connection.cursor() as cursor:
        sql = f'SELECT event_id, schema_name FROM "{schema}".cb_test_effect'
        cursor.execute(
            sql + (" WHERE event_id = %s" if event_id else "") + " ORDER BY id", [event_id] if event_id else []
        )
        return list(cursor.fetchall())


def started_key(schema: str, event_id: int) -> str:
    return f"ekr:{schema}:cbtest:started:{event_id}"


def release_key(schema: str, event_id: int) -> str:
    return f"ekr:{schema}:cbtest:release:{event_id}"


def release(schema: str, event_id: int) -> None:
    """Let a handler blocked by "block-first" finish."""
    redis.Redis.from_url(settings.REDIS_URL).rpush(release_key(schema, event_id), 1)


@register(EFFECT_KIND)
def effect(event: dict) -> None:
    with connection.cursor() as cursor:  # unqualified: lands in the schema the handler runs in
        cursor.execute(
            "INSERT INTO cb_test_effect (event_id, schema_name) VALUES (%s, current_schema())", [event["id"]]
        )
    key = str(event["payload"].get("EventKey") or "")
    if key.startswith("sleep-first:") and event["attempt"] == 1:
        redis.Redis.from_url(settings.REDIS_URL).set(started_key(event["schema_name"], event["id"]), 1, ex=300)
        time.sleep(float(key.split(":", 1)[1]))
    if key == "block-first" and event["attempt"] == 1:
        client = redis.Redis.from_url(settings.REDIS_URL)
        client.set(started_key(event["schema_name"], event["id"]), 1, ex=300)
        client.blpop([release_key(event["schema_name"], event["id"])], timeout=60)
    if key.startswith("fail:") and event["attempt"] <= int(key.split(":", 1)[1]):
        raise RuntimeError(f"test failure on attempt {event['attempt']}")

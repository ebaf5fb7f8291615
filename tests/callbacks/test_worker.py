"""With a real Celery worker: processed once in the brand's schema; a worker SIGKILLed mid-event; Redis down."""

from __future__ import annotations

import socket
import time

import pytest
import redis
from django.db import connection

from callbacks import services
from callbacks.models import CallbackEvent
from callbacks.services import callbacks_sweep
from callbacks.tasks import process_callbacks
from tests.callbacks.conftest import post_xml, sender_for
from tests.callbacks.handlers import effect_table_create, effects, release, started_key
from tests.callbacks.wechat import event_xml
from tests.helpers import WorkerProcess, wait_until

pytestmark = pytest.mark.worker
Status = CallbackEvent.Status


@pytest.fixture
def effect_brand(new_brand):
    def make():
        brand = new_brand("cb")
        effect_table_create(brand.schema_name)
        return brand, sender_for(brand)

    return make


def post_event(client_for, brand, sender, **fields):
    path, body = sender.safe(event_xml(event="ekr_test_effect", **fields))
    response = post_xml(client_for(brand), path, body)
    connection.set_schema_to_public()
    return response


def status_of(event_id: int) -> str:
    return CallbackEvent.objects.values_list("status", flat=True).get(id=event_id)


def wait_status(event_id: int, status: str, timeout: float = 30) -> None:
    wait_until(lambda: status_of(event_id) == status, timeout=timeout, message=f"event {event_id} {status}")


def test_worker_processes_each_event_once_in_its_brands_schema(celery_worker_process, effect_brand, client_for):
    (brand_a, sender_a), (brand_b, sender_b) = effect_brand(), effect_brand()
    # WeChat delivers A's event three times, and B's appid is posted to A's host
    for _ in range(3):
        assert post_event(client_for, brand_a, sender_a, create_time=1_700_000_500).content == b"success"
    assert post_event(client_for, brand_a, sender_b).status_code == 404
    event = CallbackEvent.objects.get(appid=sender_a.appid)
    wait_status(event.id, Status.DONE)
    assert effects(brand_a.schema_name) == [(event.id, brand_a.schema_name)]
    assert effects(brand_b.schema_name) == []
    assert not CallbackEvent.objects.filter(appid=sender_b.appid).exclude(status=Status.REJECTED).exists()


def test_duplicate_task_messages_run_the_handler_once(celery_worker_process, effect_brand, client_for, redis_client):
    brand, sender = effect_brand()
    # given the first run inside its handler (holding the claim), blocked until the test releases it
    assert post_event(client_for, brand, sender, EventKey="block-first").status_code == 200
    event = CallbackEvent.objects.get(appid=sender.appid)
    wait_until(lambda: redis_client.exists(started_key(brand.schema_name, event.id)), message="handler started")
    # when four more messages for it are consumed meanwhile by the worker's other process (concurrency 2)
    results = [process_callbacks.apply_async(args=[[event.id]], schema=brand.schema_name) for _ in range(4)]

    def finished(result) -> str | None:
        log = celery_worker_process.log_path.read_text(errors="replace")
        marker = f"{result.id}] succeeded in"
        return log.split(marker, 1)[1][:80] if marker in log else None

    for result in results:
        # then each finds the event claimed and does nothing
        assert "['skipped']" in wait_until(lambda r=result: finished(r), message="duplicate message consumed")
    assert status_of(event.id) == Status.PROCESSING
    # and once the first run is let go, the event took effect once, in one attempt
    release(brand.schema_name, event.id)
    wait_status(event.id, Status.DONE)
    assert effects(brand.schema_name) == [(event.id, brand.schema_name)]
    assert CallbackEvent.objects.get(id=event.id).attempts == 1


def test_worker_killed_mid_event_takes_effect_exactly_once(
    celery_worker_process, effect_brand, client_for, redis_client
):
    brand, sender = effect_brand()
    # given a handler that has written its effect and is still running when the worker dies
    assert post_event(client_for, brand, sender, EventKey="sleep-first:60").status_code == 200
    event = CallbackEvent.objects.get(appid=sender.appid)
    wait_until(lambda: redis_client.exists(started_key(brand.schema_name, event.id)), message="handler started")
    celery_worker_process.kill()
    # then its uncommitted effect is gone and the row is left claimed
    assert effects(brand.schema_name) == []
    assert status_of(event.id) == Status.PROCESSING
    # when the worker is back and the sweeper (beat, every minute; called here) hands the orphan back
    celery_worker_process.restart()
    wait_until(
        lambda: callbacks_sweep(processing_stale=0).get(Status.PROCESSING) == 1,
        timeout=20,
        message="sweeper to take back the orphaned claim",
    )
    wait_status(event.id, Status.DONE)
    assert effects(brand.schema_name) == [(event.id, brand.schema_name)]
    assert CallbackEvent.objects.get(id=event.id).attempts == 2
    # and the killed message, delivered again later (acks_late, visibility timeout), changes nothing
    result = process_callbacks.apply_async(args=[[event.id]], schema=brand.schema_name)
    wait_until(
        lambda: f"{result.id}] succeeded" in celery_worker_process.log_path.read_text(errors="replace"),
        message="redelivered message consumed",
    )
    assert f"{result.id}] succeeded in" in celery_worker_process.log_path.read_text()
    assert "['skipped']" in celery_worker_process.log_path.read_text().split(f"{result.id}] succeeded in")[1][:80]
    assert effects(brand.schema_name) == [(event.id, brand.schema_name)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def throwaway_broker(tmp_path, monkeypatch):
    """A Redis of our own as the broker of this process and of a worker started with `start_worker()`."""
    from ekr.celery import app
    from ekr.devservices import start_redis

    port = _free_port()
    start_redis(tmp_path, port, name="broker")
    from django.conf import settings

    # the same db number the test settings give the worker (EKR_TEST_REDIS_DB)
    url = f"redis://127.0.0.1:{port}/{settings.REDIS_URL.rsplit('/', 1)[1]}"

    def use(broker_url):
        app.conf.broker_url = broker_url
        app._pool = None
        app.amqp._producer_pool = None

    class Broker:
        client = redis.Redis.from_url(url)
        workers: list[WorkerProcess] = []

        def stop(self):
            try:
                self.client.shutdown(nosave=True)
            except redis.ConnectionError:
                pass
            wait_until(lambda: not _port_open(port), message="redis down")

        def start(self):
            start_redis(tmp_path, port, name="broker")

        def start_worker(self):
            monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
            worker = WorkerProcess(concurrency=1)
            worker.log_path = tmp_path / "worker.log"
            worker.start()
            self.workers.append(worker)
            return worker

    old = app.conf.broker_url
    use(url)
    broker = Broker()
    yield broker
    for worker in broker.workers:
        worker.stop()
    use(old)
    broker.stop()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_redis_down_callbacks_are_answered_kept_and_processed_when_it_is_back(
    throwaway_broker, effect_brand, client_for
):
    brand, sender = effect_brand()
    worker = throwaway_broker.start_worker()
    # the set-up works: an event before the outage is processed through this broker
    post_event(client_for, brand, sender, create_time=1_700_000_900)
    first = CallbackEvent.objects.get(appid=sender.appid)
    wait_status(first.id, Status.DONE)

    # when Redis goes down while WeChat delivers
    throwaway_broker.stop()
    ids = []
    for n in range(5):
        started = time.monotonic()
        response = post_event(client_for, brand, sender, create_time=1_700_001_000 + n)
        # then every callback is answered at once with success
        assert (response.status_code, response.content) == (200, b"success")
        assert time.monotonic() - started < 1.0
        ids.append(CallbackEvent.objects.filter(appid=sender.appid).order_by("-id").values_list("id", flat=True)[0])
    # and kept, waiting, with nothing processed, once the hand-off has tried the broker and given them up
    wait_until(lambda: services._handoff.pending() == 0, timeout=60, message="the hand-off to give up")
    assert set(CallbackEvent.objects.filter(id__in=ids).values_list("status", flat=True)) == {Status.RECEIVED}
    assert [e for e, _ in effects(brand.schema_name)] == [first.id]

    # when Redis is back and the sweeper runs (beat; called here)
    throwaway_broker.start()
    wait_until(
        lambda: (
            sum(callbacks_sweep(received_after=0).values())
            or not CallbackEvent.objects.filter(id__in=ids, status=Status.RECEIVED).exists()
        ),
        timeout=20,
        message="sweeper to queue the kept callbacks",
    )
    for event_id in ids:
        wait_status(event_id, Status.DONE, timeout=60)
    assert sorted(e for e, _ in effects(brand.schema_name)) == sorted([first.id, *ids])
    # and the receiver's own hand-off to the broker works again, without the sweeper
    post_event(client_for, brand, sender, create_time=1_700_002_000)
    after = CallbackEvent.objects.filter(appid=sender.appid).order_by("-id").first()
    wait_status(after.id, Status.DONE, timeout=30)
    assert worker.proc.poll() is None


def test_replay_command_queues_for_the_worker(celery_worker_process, effect_brand, client_for):
    from django.core.management import call_command

    brand, sender = effect_brand()
    path, body = sender.safe(event_xml(event="ekr_nobody_handles"))
    assert post_xml(client_for(brand), path, body).status_code == 200
    connection.set_schema_to_public()
    event = CallbackEvent.objects.get(appid=sender.appid)
    assert (event.status, event.attempts) == (Status.IGNORED, 0)
    call_command("replay_callbacks", "--id", str(event.id))
    # the claim counts the attempt before the handler runs: wait for the attempt to finish, not only to start
    wait_until(
        lambda: CallbackEvent.objects.filter(id=event.id, attempts=1).exclude(status=Status.PROCESSING).exists(),
        message="replayed event processed",
    )
    assert status_of(event.id) == Status.IGNORED

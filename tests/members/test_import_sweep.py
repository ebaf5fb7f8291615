"""With a real Celery worker: an import whose run could not be sent when it was started (the broker unreachable
after the commit: logged, not raised) stays queued until the brand's sweep sends its run again, and the worker then
imports it. The sweep waits before sending again, and it sends only its own brand's imports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from members.models import Member, MemberImport
from members.services.imports import (
    member_import_chunk_add,
    member_import_create,
    member_import_start,
    member_imports_send_stuck,
)
from tests.helpers import broker_unreachable_during, wait_until

pytestmark = pytest.mark.worker

CSV = b"phone,name\n13800001001,Sweep one\n13800001002,Sweep two\n13800001003,Sweep three\n"


def _started_while_the_broker_is_down(caplog) -> MemberImport:
    imp = member_import_create(filename="sweep.csv")
    member_import_chunk_add(member_import=imp, seq=0, data=CSV)
    with broker_unreachable_during():
        imp = member_import_start(member_import=imp)
    assert imp.status == MemberImport.Status.QUEUED
    assert "task members.import_run" in caplog.text and "not queued" in caplog.text
    return imp


def test_a_queued_import_whose_run_was_lost_is_sent_again_by_the_sweep(new_brand, celery_worker_process, caplog):
    brand, other = new_brand("isweep", with_app=False), new_brand("isweep", with_app=False)
    with schema_context(other.schema_name):
        other_import = _started_while_the_broker_is_down(caplog)
    with schema_context(brand.schema_name):
        imp = _started_while_the_broker_is_down(caplog)

        assert member_imports_send_stuck() == 0  # its run was sent (and lost) just now: too early to send again
        assert member_imports_send_stuck(now=timezone.now() + timedelta(minutes=11)) == 1

        wait_until(
            lambda: MemberImport.objects.get(pk=imp.pk).status == MemberImport.Status.DONE,
            message="the import run by the worker",
        )
        done = MemberImport.objects.get(pk=imp.pk)
        assert (done.rows_created, done.rows_failed) == (3, 0)
        assert sorted(Member.objects.values_list("name", flat=True)) == ["Sweep one", "Sweep three", "Sweep two"]
        assert member_imports_send_stuck(now=timezone.now() + timedelta(minutes=30)) == 0  # done: left alone

    with schema_context(other.schema_name):  # the other brand's import was not this brand's sweep's
        left = MemberImport.objects.get(pk=other_import.pk)
        assert left.status == MemberImport.Status.QUEUED and not Member.objects.exists()

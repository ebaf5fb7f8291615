"""Post-show coupons: once per viewer who watched long enough, valid 72 hours from the end; re-runs and runs cut
short issue nothing twice; stock holds; not-yet-members get theirs when they join within the 72 hours."""

from __future__ import annotations

import datetime as dt

from django_tenants.utils import schema_context

from livestream.models import LiveRoom
from livestream.services.coupons import post_show_coupons_step
from livestream.services.showend import end_of_show_step
from members.services import member_register
from miniprograms.models import Coupon
from tests.livestream.factories import audience, coupon_template, ended_room, viewer


def _coupons(room):
    return Coupon.objects.filter(issue_key=f"live:{room.pk}")


def test_viewers_who_watched_long_enough_get_each_coupon_once(world):
    with schema_context(world.schema):
        t1, t2 = coupon_template("20 off"), coupon_template("10% off")
        room = ended_room(templates=[t1, t2])
        viewer(room, openid=world.alice.openid, member=world.alice, watch_seconds=120)
        viewer(room, openid=world.bob.openid, member=world.bob, watch_seconds=30)  # under the 60 s default

        assert end_of_show_step(room_id=room.pk)["state"] == "done"
        assert end_of_show_step(room_id=room.pk)["state"] == "done"
        LiveRoom.objects.filter(pk=room.pk).update(coupon_state="issuing", coupon_cursor=0)  # a forced re-run
        assert end_of_show_step(room_id=room.pk)["state"] == "done"

        coupons = list(_coupons(room).order_by("template_id"))
        assert [(c.member_id, c.template_id, c.source) for c in coupons] == [
            (world.alice.pk, t1.pk, "auto"),
            (world.alice.pk, t2.pk, "auto"),
        ]
        assert all(c.valid_until == room.ended_at + dt.timedelta(hours=72) for c in coupons)
        t1.refresh_from_db()
        assert t1.issued_count == 1
        assert LiveRoom.objects.get(pk=room.pk).coupons_issued == 2


def test_a_run_cut_short_is_resumed_and_nothing_is_issued_twice(world):
    with schema_context(world.schema):
        template = coupon_template(per_member_limit=2)  # the limit alone would not stop a second issue
        room = ended_room(templates=[template])
        member_ids = audience(room, 25)

        assert post_show_coupons_step(room_id=room.pk, batch_size=4, max_batches=2) == "issuing"
        assert _coupons(room).count() == 8
        LiveRoom.objects.filter(pk=room.pk).update(coupon_cursor=0)  # even a lost cursor cannot issue twice
        assert post_show_coupons_step(room_id=room.pk, batch_size=4, max_batches=100) == "done"

        assert sorted(_coupons(room).values_list("member_id", flat=True)) == sorted(member_ids)
        template.refresh_from_db()
        assert template.issued_count == 25


def test_stock_holds(world):
    with schema_context(world.schema):
        template = coupon_template(stock=10)
        room = ended_room(templates=[template])
        audience(room, 30)
        assert post_show_coupons_step(room_id=room.pk, batch_size=7, max_batches=100) == "done"
        template.refresh_from_db()
        assert (_coupons(room).count(), template.issued_count) == (10, 10)


def test_a_not_yet_member_gets_theirs_on_joining_within_72_hours(world):
    with schema_context(world.schema):
        template = coupon_template()
        room = ended_room(templates=[template])
        viewer(room, openid="o-late-joiner", watch_seconds=600)
        old = ended_room(templates=[template], ended_ago=dt.timedelta(hours=73))
        viewer(old, openid="o-late-joiner", watch_seconds=600)
        viewer(room, openid="o-brief-visitor", watch_seconds=20)
        end_of_show_step(room_id=room.pk)
        assert _coupons(room).count() == 0  # nobody to give them to yet

        member, created = member_register(openid="o-late-joiner", phone="13700000001")
        again, _ = member_register(openid="o-late-joiner", phone="13700000001")
        brief, _ = member_register(openid="o-brief-visitor", phone="13700000002")

        assert created and again.pk == member.pk
        assert list(_coupons(room).values_list("member_id", flat=True)) == [member.pk]
        assert not _coupons(old).exists()  # that show ended more than 72 hours ago
        assert not Coupon.objects.filter(member=brief).exists()

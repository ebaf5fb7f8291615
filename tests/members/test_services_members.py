import datetime as dt

import pytest

from core.errors import ApplicationError, Conflict
from members.models import GuideAssignment, Member, TierChange
from members.selectors import member_by_phone, phone_hash
from members.services import (
    guide_members_reassign,
    guide_move,
    member_guide_assign,
    member_profile_update,
    member_register,
    members_tag,
    members_untag,
    tag_create,
)


def test_registration_stores_phone_encrypted_with_a_keyed_hash(world):
    # when
    member, created = member_register(openid="o-1", phone="+86 138-0013-8000", name="Mei", store_code=world.s1.code)
    # then
    assert created
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, phone_hash FROM members_member WHERE id = %s", [member.pk])
        raw_phone, raw_hash = cursor.fetchone()
    assert "13800138000" not in raw_phone
    assert raw_hash == phone_hash("13800138000") and "13800138000" not in raw_hash
    assert Member.objects.get(pk=member.pk).phone == "13800138000"
    assert member_by_phone("138 0013 8000").pk == member.pk
    assert member.join_store == world.s1 and member.store == world.s1
    assert member.join_channel == Member.Channel.STORE_QR
    assert member.tier == world.silver
    assert TierChange.objects.filter(member=member, kind="initial", to_level=world.silver).count() == 1


def test_registering_twice_returns_the_same_member(world):
    first, created1 = member_register(openid="o-1", phone="13800138000", name="Mei")
    second, created2 = member_register(openid="o-1", phone="13800138001", name="Other")
    assert (created1, created2) == (True, False)
    assert first.pk == second.pk
    assert Member.objects.filter(openid="o-1").count() == 1
    assert Member.objects.get(pk=first.pk).name == "Mei"


def test_unknown_store_code_and_guide_are_field_errors_unless_ignored(world):
    with pytest.raises(ApplicationError) as info:
        member_register(openid="o-1", phone="13800138000", store_code="NOPE", guide_id=999999)
    assert info.value.code == "unknown_link"
    assert set(info.value.fields) == {"store_code", "guide_id"}
    assert not Member.objects.filter(openid="o-1").exists()

    member, created = member_register(
        openid="o-1", phone="13800138000", store_code="NOPE", guide_id=999999, ignore_unknown_links=True
    )
    assert created and member.store is None and member.guide is None


def test_guide_at_registration_becomes_exclusive_guide_and_home_store(world):
    member, _ = member_register(openid="o-1", phone="13800138000", guide_id=world.g1.pk)
    assert member.guide == world.g1 and member.store == world.s1
    assert member.join_channel == Member.Channel.GUIDE_SHARE
    assert GuideAssignment.objects.filter(member=member, to_guide=world.g1).count() == 1


def test_a_phone_of_another_openid_is_a_conflict(world, register):
    register("o-1", "13800138000")
    with pytest.raises(Conflict) as info:
        member_register(openid="o-2", phone="13800138000")
    assert info.value.code == "phone_taken"


def test_an_imported_member_is_claimed_by_registration_with_the_same_phone(world):
    imported = Member.objects.create(
        phone="13800138000", phone_hash=phone_hash("13800138000"), name="Old", join_channel=Member.Channel.IMPORT
    )
    member, created = member_register(openid="o-9", phone="13800138000", name="New", phone_verified=True)
    assert member.pk == imported.pk
    assert Member.objects.get(pk=imported.pk).openid == "o-9"
    assert Member.objects.get(pk=imported.pk).name == "Old"
    assert Member.objects.count() == 1


def test_a_typed_phone_never_claims_an_imported_member(world):
    imported = Member.objects.create(
        phone="13800138000", phone_hash=phone_hash("13800138000"), name="Old", join_channel=Member.Channel.IMPORT
    )
    with pytest.raises(Conflict) as info:
        member_register(openid="o-9", phone="13800138000", name="New")
    assert info.value.code == "phone_verification_required"
    assert Member.objects.get(pk=imported.pk).openid is None or Member.objects.get(pk=imported.pk).openid == ""
    assert Member.objects.count() == 1


def test_invalid_phone_is_a_field_error(world):
    with pytest.raises(ApplicationError) as info:
        member_register(openid="o-1", phone="12345")
    assert "phone" in info.value.fields


def test_profile_update_refuses_phone_and_tier_and_a_second_birthday(world, register):
    member = register("o-1", "13800138000")
    with pytest.raises(ApplicationError) as info:
        member_profile_update(member=member, phone="13900000000", tier=world.gold)
    assert set(info.value.fields) == {"phone", "tier"}
    member_profile_update(member=member, name="Mei Mei", birthday=dt.date(1990, 5, 1))
    with pytest.raises(ApplicationError):
        member_profile_update(member=member, birthday=dt.date(1991, 5, 1))
    assert Member.objects.get(pk=member.pk).birthday == dt.date(1990, 5, 1)


def test_guide_reassignment_keeps_history_and_bulk_moves_a_departing_guides_members(world, register):
    members = [register(f"o-{i}", f"1380013800{i}", guide_id=world.g1.pk) for i in range(3)]
    other = register("o-x", "13800138099", guide_id=world.g2.pk)
    member_guide_assign(member=members[0], guide=world.g0, reason="customer asked")
    assert Member.objects.get(pk=members[0].pk).store == world.hq_store

    moved = guide_members_reassign(
        members=Member.objects.all(), from_guide=world.g1, to_guide=world.g0, reason="guide left"
    )
    assert moved == 2
    assert set(Member.objects.filter(guide=world.g0).values_list("id", flat=True)) == {m.pk for m in members}
    assert Member.objects.get(pk=other.pk).guide == world.g2
    history = GuideAssignment.objects.filter(member=members[1]).order_by("id")
    assert [(h.from_guide_id, h.to_guide_id) for h in history] == [(None, world.g1.pk), (world.g1.pk, world.g0.pk)]


def test_guide_moves_store_with_history(world):
    guide = guide_move(guide=world.g1, to_store=world.hq_store)
    assert guide.store == world.hq_store
    assert [(m.from_store_id, m.to_store_id) for m in guide.moves.order_by("id")] == [
        (None, world.s1.pk),
        (world.s1.pk, world.hq_store.pk),
    ]


def test_bulk_tagging_is_idempotent(world, register):
    a, b = register("o-1", "13800138000"), register("o-2", "13800138001")
    tag = tag_create(name="VIP")
    assert members_tag(tag=tag, member_ids=[a.pk, b.pk]) == 2
    assert members_tag(tag=tag, member_ids=[a.pk, b.pk]) == 0
    assert members_untag(tag=tag, member_ids=[a.pk]) == 1
    assert list(tag.members.values_list("id", flat=True)) == [b.pk]
    with pytest.raises(Conflict):
        tag_create(name="VIP")

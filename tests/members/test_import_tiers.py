"""An import's tier history is the one members.services.tiers writes: the tier year starts when the tier does."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Member, TierChange
from members.selectors import member_by_phone
from members.services.tiers import one_year_after
from tests.members.test_imports import HEADER, run

pytestmark = pytest.mark.django_db


def test_a_new_tier_starts_its_year_and_an_unchanged_one_keeps_it(world):
    # given: two members imported a while ago, both Silver
    run((HEADER + "13800000001,A,,,,,,Silver\n13800000002,B,,,,,,Silver\n").encode())
    long_ago = timezone.now() - timedelta(days=100)
    Member.objects.update(tier_since=long_ago, tier_review_at=one_year_after(long_ago))

    # when a second file moves the first to Gold and says Silver again for the second
    before = timezone.now()
    run((HEADER + "13800000001,A,,,,,,Gold\n13800000002,B,,,,,,Silver\n").encode())

    # then the first one's tier year starts now and is reviewed a year later; the second one's is untouched
    moved, kept = member_by_phone("13800000001"), member_by_phone("13800000002")
    assert moved.tier == world.gold and moved.tier_since >= before
    assert moved.tier_review_at == one_year_after(moved.tier_since)
    assert (kept.tier, kept.tier_since, kept.tier_review_at) == (world.silver, long_ago, one_year_after(long_ago))
    change = TierChange.objects.get(member=moved, kind="import")
    assert (change.from_level, change.to_level, change.created_at) == (world.silver, world.gold, moved.tier_since)
    assert not TierChange.objects.filter(member=kept, kind="import").exists()


def test_a_new_member_gets_the_entry_tier_and_its_year(world):
    run((HEADER + "13800000003,C,,,,,,\n").encode())

    member = member_by_phone("13800000003")
    assert member.tier == world.silver  # the entry tier
    assert member.tier_review_at == one_year_after(member.tier_since)
    assert TierChange.objects.filter(member=member, kind="initial", to_level=world.silver).count() == 1

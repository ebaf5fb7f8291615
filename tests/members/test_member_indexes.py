"""Issue 17: the member import writes about 15 index entries per new member. The indexes on columns an imported
member leaves NULL (openid, unionid, card_code, home and joining store and guide; a first TierChange's from_level,
a first GuideAssignment's from_guide) are partial, WHERE the column IS NOT NULL: a member without them writes no
entry there. These tests pin that each still serves the look-ups that used the full index (an equality implies
IS NOT NULL) and that the unique ones are still unique where set."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from members.models import Member, TierChange

# (index, a query that must be able to use it) - the ORM's look-ups and the foreign keys' own checks
# (ri_triggers: `SELECT 1 FROM ONLY <table> x WHERE $1 = <column> FOR KEY SHARE OF x` when a store, guide or
# tier is deleted).
LOOKUPS = [
    ("member_openid_uniq", "SELECT id FROM members_member WHERE openid = 'o-1'"),
    ("member_unionid_uniq", "SELECT id FROM members_member WHERE unionid = 'u-1'"),
    ("member_card_code_uniq", "SELECT id FROM members_member WHERE card_code = 'c-1'"),
    ("member_store_idx", "SELECT id FROM members_member WHERE store_id = 7"),
    ("member_store_idx", "SELECT id FROM members_member WHERE store_id IN (7, 8)"),
    ("member_store_idx", "SELECT 1 FROM ONLY members_member x WHERE 7 = store_id FOR KEY SHARE OF x"),
    ("member_guide_idx", "SELECT id FROM members_member WHERE guide_id = 7"),
    ("member_guide_idx", "SELECT 1 FROM ONLY members_member x WHERE 7 = guide_id FOR KEY SHARE OF x"),
    ("member_tier_idx", "SELECT id FROM members_member WHERE tier_id = 7"),
    ("member_tier_idx", "SELECT 1 FROM ONLY members_member x WHERE 7 = tier_id FOR KEY SHARE OF x"),
    ("member_join_store_idx", "SELECT 1 FROM ONLY members_member x WHERE 7 = join_store_id FOR KEY SHARE OF x"),
    ("member_join_guide_idx", "SELECT 1 FROM ONLY members_member x WHERE 7 = join_guide_id FOR KEY SHARE OF x"),
    (
        "tierchange_from_level_idx",
        "SELECT 1 FROM ONLY members_tierchange x WHERE 7 = from_level_id FOR KEY SHARE OF x",
    ),
    (
        "guideassignment_from_guide_idx",
        "SELECT 1 FROM ONLY members_guideassignment x WHERE 7 = from_guide_id FOR KEY SHARE OF x",
    ),
]


@pytest.mark.parametrize(("index", "query"), LOOKUPS, ids=[f"{i}:{n}" for n, (i, _) in enumerate(LOOKUPS)])
def test_each_partial_index_serves_its_look_ups(world, index, query):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan TO off")  # an empty table: only an index that can serve it
        cursor.execute("EXPLAIN " + query)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan


def test_the_indexes_on_mostly_null_columns_hold_only_the_rows_that_have_one(world):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN "
            "('members_member', 'members_tierchange', 'members_guideassignment')"
        )
        defs = dict(cursor.fetchall())
    for column, index in [
        ("openid", "member_openid_uniq"),
        ("unionid", "member_unionid_uniq"),
        ("card_code", "member_card_code_uniq"),
        ("store_id", "member_store_idx"),
        ("guide_id", "member_guide_idx"),
        ("join_store_id", "member_join_store_idx"),
        ("join_guide_id", "member_join_guide_idx"),
        ("from_level_id", "tierchange_from_level_idx"),
        ("from_guide_id", "guideassignment_from_guide_idx"),
    ]:
        assert defs[index].endswith(f"WHERE ({column} IS NOT NULL)"), defs[index]
        # and no full index over the column is left beside it
        full = [name for name, d in defs.items() if f"({column}" in d and "WHERE" not in d]
        assert full == [], full


@pytest.mark.parametrize("column", ["openid", "unionid", "card_code"])
def test_openid_unionid_and_card_code_are_still_unique_where_set(world, column):
    Member.objects.create(phone="13800000001", **{column: "same"})
    Member.objects.create(phone="13800000002")  # NULL twice is fine
    Member.objects.create(phone="13800000003")
    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.create(phone="13800000004", **{column: "same"})
    assert Member.objects.filter(**{column: "same"}).count() == 1


def test_a_first_tier_and_a_later_move_are_both_found_by_level(world):
    member = Member.objects.create(phone="13800000005", tier=world.gold)
    TierChange.objects.create(member=member, from_level=None, to_level=world.silver, kind="initial", reason="t")
    TierChange.objects.create(member=member, from_level=world.silver, to_level=world.gold, kind="upgrade", reason="t")
    assert list(TierChange.objects.filter(from_level=world.silver).values_list("kind", flat=True)) == ["upgrade"]
    assert TierChange.objects.filter(from_level__isnull=True).count() == 1


@pytest.mark.parametrize("column", ["store_id", "guide_id", "tier_id"])
def test_a_home_store_guide_or_tier_index_grows_at_its_right_end_and_lists_newest_first(world, column):
    """(column, id) ascending: a new member (the largest id) is appended at the right end of its value's range;
    the newest-first listing reads the index backwards, no sort."""
    index = {"store_id": "member_store_idx", "guide_id": "member_guide_idx", "tier_id": "member_tier_idx"}[column]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s", [index]
        )
        assert f"({column}, id)" in cursor.fetchone()[0]
        for plan_kind in ("seqscan", "bitmapscan", "sort"):  # what is left: an index that gives the order itself
            cursor.execute(f"SET LOCAL enable_{plan_kind} TO off")
        cursor.execute(f"EXPLAIN SELECT id FROM members_member WHERE {column} = 7 ORDER BY id DESC LIMIT 20")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Scan Backward using {index}" in plan and "Sort" not in plan, plan


def test_the_name_search_uses_the_name_index_whatever_the_collation(world):
    """Staff search members by the start of a name (`name__startswith`, LIKE 'x%'). A plain btree serves LIKE only
    under the C collation (this database's C.UTF-8 is not it, nor is a production zh_CN.UTF-8): the index has
    pattern operators, so the search is an index range, not a scan of every member."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan TO off")
        cursor.execute("SET LOCAL enable_bitmapscan TO off")
        # No ORDER BY: with the model's ordering a walk of the primary key that filters every member needs no sort,
        # and on some statistics the planner prefers it; the question here is only whether the index can serve LIKE.
        plan = Member.objects.filter(name__startswith="张").order_by().only("id").explain()
    assert "member_name_idx" in plan and "Index Cond" in plan, plan

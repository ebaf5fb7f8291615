"""Every write about members, stores, guides, tiers, the member card and imports (one module per topic)."""

from members.services.cards import (
    card_event_submit_user_info,
    card_event_user_del_card,
    card_event_user_get_card,
    member_card_activate,
    member_card_push,
    member_card_sync_request,
)
from members.services.imports import (
    member_import_chunk_add,
    member_import_create,
    member_import_from_bytes,
    member_import_run,
    member_import_start,
)
from members.services.members import (
    guide_members_reassign,
    member_guide_assign,
    member_profile_update,
    member_register,
    members_tag,
    members_untag,
    tag_create,
)
from members.services.sessions import member_phone_prove, member_session_start
from members.services.stores import (
    franchisee_create,
    guide_create,
    guide_login_grant,
    guide_move,
    guide_update,
    store_create,
    store_update,
)
from members.services.tiers import (
    card_level_create,
    member_tier_checks_queue,
    member_tier_checks_run,
    member_tier_evaluate,
    member_tier_evaluate_request,
    member_tier_review,
    member_tier_set,
    tier_check_mark_ttl_seconds,
    tier_downgrade_due,
)
from members.services.visits import member_visit_record

__all__ = [
    "card_event_submit_user_info",
    "card_event_user_del_card",
    "card_event_user_get_card",
    "card_level_create",
    "franchisee_create",
    "guide_create",
    "guide_login_grant",
    "guide_members_reassign",
    "guide_move",
    "guide_update",
    "member_card_activate",
    "member_card_push",
    "member_card_sync_request",
    "member_guide_assign",
    "member_import_chunk_add",
    "member_import_create",
    "member_import_from_bytes",
    "member_import_run",
    "member_import_start",
    "member_phone_prove",
    "member_profile_update",
    "member_register",
    "member_session_start",
    "member_tier_checks_queue",
    "member_tier_checks_run",
    "member_tier_evaluate",
    "member_tier_evaluate_request",
    "member_tier_review",
    "member_tier_set",
    "member_visit_record",
    "members_tag",
    "members_untag",
    "store_create",
    "store_update",
    "tag_create",
    "tier_check_mark_ttl_seconds",
    "tier_downgrade_due",
]

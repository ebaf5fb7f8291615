from django.apps import AppConfig


class PointsConfig(AppConfig):
    name = "points"

    def ready(self) -> None:
        from members import hooks
        from points.selectors import balance_expression, balance_of, balance_sql, points_earned_since

        hooks.tier_input_register(
            hooks.EARNED_POINTS, lambda member, since: points_earned_since(member=member, since=since)
        )
        hooks.points_balance_reader_register(lambda member: balance_of(member=member))
        hooks.points_balance_expression_register(balance_expression)
        hooks.points_balance_sql_register(balance_sql)
        hooks.member_registered_subscribe(_signup_bonus)
        hooks.tier_check_marks_register(
            hooks.TierCheckMarks(clear=_tier_check_mark_clear, marked=_tier_check_marked, restore=_tier_check_restore)
        )


def _signup_bonus(member) -> None:
    from points.services import points_signup_bonus_grant

    points_signup_bonus_grant(member=member)  # once per member (keyed), none if the brand has no bonus


def _tier_check_mark_clear(member_id: int) -> None:
    from points.services.ledger import tier_check_mark_clear

    tier_check_mark_clear(member_id=member_id)


def _tier_check_marked(limit: int) -> list[int]:
    from points.services.ledger import tier_check_marked

    return tier_check_marked(limit=limit)


def _tier_check_restore(member_id: int) -> None:
    from points.services.ledger import tier_check_mark_restore

    tier_check_mark_restore(member_id=member_id)

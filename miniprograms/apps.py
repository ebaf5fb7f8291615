from django.apps import AppConfig


class MiniprogramsConfig(AppConfig):
    name = "miniprograms"
    verbose_name = "Store mini-program shops"

    def ready(self) -> None:
        from members import hooks
        from miniprograms import openapi  # noqa: F401  (registers the POS key scheme with drf-spectacular)
        from miniprograms.selectors import member_spent_fen_since

        hooks.tier_input_register(
            hooks.SPENT_FEN, lambda member, since: member_spent_fen_since(member=member, since=since)
        )

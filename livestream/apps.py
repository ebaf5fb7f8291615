from django.apps import AppConfig


class LivestreamConfig(AppConfig):
    name = "livestream"
    verbose_name = "Live-stream commerce"

    def ready(self) -> None:
        from livestream.services import attribution
        from members import hooks as member_hooks
        from miniprograms import hooks as shop_hooks

        shop_hooks.order_placed_subscribe(attribution.order_attribute)
        member_hooks.join_channel_resolver_register(attribution.join_channel_for)
        member_hooks.member_registered_subscribe(attribution.member_joined)

from django.apps import AppConfig


class RightsMarketConfig(AppConfig):
    name = "rights_market"
    verbose_name = "Rights market (public catalogue)"

    def ready(self) -> None:
        from miniprograms import hooks
        from rights_market.brandside.services import voucher_follow_coupon

        hooks.coupon_changed_subscribe(voucher_follow_coupon)

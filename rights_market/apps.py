from django.apps import AppConfig


class RightsMarketConfig(AppConfig):
    name = "rights_market"
    verbose_name = "Rights market (public catalogue)"

from django.apps import AppConfig


class RightsMarketBrandsideConfig(AppConfig):
    name = "rights_market.brandside"
    label = "market_brand"
    verbose_name = "Rights market (brand side)"

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The web console at /console/ on a brand's host: store managers, HQ and guides. Pages only (no models):
    every read goes through the apps' scoped selectors, every write through their services."""

    name = "console"

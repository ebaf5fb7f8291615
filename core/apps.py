from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "ekr core"

    def ready(self):
        from core import openapi  # noqa: F401  (registers the API token scheme with drf-spectacular)

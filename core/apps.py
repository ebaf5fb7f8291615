from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "ekr core"

    def ready(self):
        from core import (
            fields_bounds,
            openapi,  # noqa: F401  (registers the API token scheme with drf-spectacular)
        )

        fields_bounds.install()  # every DRF IntegerField refuses what a bigint cannot hold (a 400, not a 500)

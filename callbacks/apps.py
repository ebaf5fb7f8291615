from django.apps import AppConfig


class CallbacksConfig(AppConfig):
    name = "callbacks"
    verbose_name = "WeChat callbacks"

    def ready(self) -> None:
        from callbacks.registry import load_handler_modules

        load_handler_modules()

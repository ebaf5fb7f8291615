from django.apps import AppConfig


class MiniprogramsConfig(AppConfig):
    name = "miniprograms"
    verbose_name = "Store mini-program shops"

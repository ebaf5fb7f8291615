"""The Celery app. Tasks are tenant-aware through core.tasks.BrandTask (the app's default task class)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")

from ekr.startup import refuse_unsafe_start

refuse_unsafe_start()  # worker and beat: never with the development key or DEBUG outside local development

app = Celery("ekr", task_cls="core.tasks:BrandTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


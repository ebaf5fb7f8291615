"""The Celery app. Tasks are tenant-aware through core.tasks.BrandTask (the app's default task class)."""

import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")

from ekr.startup import refuse_unsafe_start

app = Celery("ekr", task_cls="core.tasks:BrandTask")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _started_by_celery() -> bool:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return (spec is not None and spec.name.startswith("celery")) or os.path.basename(sys.argv[0]) == "celery"


# Worker and beat (the `celery` command): never with the development key or DEBUG outside local development.
# Only there: importing `ekr` elsewhere must not load settings (a bench sets DATABASE_URL first; wsgi, asgi and
# manage.py make the same check themselves).
if _started_by_celery():
    refuse_unsafe_start()

app.autodiscover_tasks()

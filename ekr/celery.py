"""The Celery app. Tasks are tenant-aware through core.tasks.BrandTask (the app's default task class)."""

import os
import sys

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")

from ekr.startup import refuse_unsafe_start

app = Celery("ekr", task_cls="core.tasks:BrandTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes every database connection before and after each task unless CELERY_DB_REUSE_MAX is
# set, so each task paid for a new PostgreSQL backend (connecting, cold catalogue caches, the search path and
# prepared statements made again): most of a short task's time (issue 17, bench/market.py). Connections are reused
# as in a web process instead: the fixup closes them only every 1,000 tasks, and around each task
# close_old_connections() applies CONN_MAX_AGE and the health check exactly as around a request.
app.conf.update(CELERY_DB_REUSE_MAX=1000)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _connections_as_around_a_request(sender=None, **kwargs) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run in the caller's process and transaction: leave its connection alone
    from django.db import close_old_connections

    close_old_connections()


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

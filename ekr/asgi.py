"""ASGI entry point. Request handling stays synchronous: async ORM calls lose the tenant (django-tenants #518)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")
application = get_asgi_application()

from ekr.startup import refuse_unsafe_start  # noqa: E402

refuse_unsafe_start()

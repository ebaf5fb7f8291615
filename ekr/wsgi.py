"""WSGI entry point: Django's handler, with the short middleware chain for WeChat's callbacks (core/wsgi.py)."""

import os

from core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")
application = get_wsgi_application()

from ekr.startup import refuse_unsafe_start  # noqa: E402

refuse_unsafe_start()

from ekr.settings.base import *
from ekr.settings.base import env

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
if SECRET_KEY.startswith("dev-insecure"):
    raise RuntimeError("DJANGO_SECRET_KEY must be set in production")
if not env.str("EKR_FIELD_KEY", default=""):
    raise RuntimeError("EKR_FIELD_KEY must be set in production")

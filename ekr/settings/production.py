from ekr.settings.base import *
from ekr.settings.base import env

DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env.bool("EKR_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]  # load-balancer probes over plain HTTP
SECURE_HSTS_SECONDS = env.int("EKR_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True  # every brand is a subdomain of the base domain
SECURE_HSTS_PRELOAD = env.bool("EKR_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
# X-Forwarded-Proto is believed only behind a proxy the deployment names (see EKR_TRUSTED_PROXY_HEADER): a
# client could otherwise claim https on a plain connection.
if env.bool("EKR_BEHIND_TLS_PROXY", default=bool(EKR_TRUSTED_PROXY_HEADER)):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not SECRET_KEY or SECRET_KEY.startswith("dev-insecure") or len(SECRET_KEY) < 32:
    raise RuntimeError("DJANGO_SECRET_KEY must be set in production")
if not env.str("EKR_FIELD_KEY", default=""):
    raise RuntimeError("EKR_FIELD_KEY must be set in production")

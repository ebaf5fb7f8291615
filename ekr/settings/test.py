from ekr.settings.base import *  # noqa: F401,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = True
EKR_TENANT_CACHE_SECONDS = 0
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

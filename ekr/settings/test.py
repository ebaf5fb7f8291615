from ekr.settings.base import *  # noqa: F401,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = True
EKR_TENANT_CACHE_SECONDS = 0
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# Tests own a database and a Redis db of their own; conftest creates and migrates them.
DATABASES["default"]["NAME"] = DATABASES["default"]["NAME"] + "_test"  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"]["NAME"]}  # noqa: F405
REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/1"  # noqa: F405
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = "ekr-test"  # noqa: F405
CELERY_BROKER_URL = REDIS_URL

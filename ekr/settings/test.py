import os

from ekr.settings.base import *  # noqa: F401,F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = True
EKR_TENANT_CACHE_SECONDS = 0
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

# Tests own a database and a Redis db of their own; conftest creates and migrates them.
# EKR_TEST_DB_SUFFIX / EKR_TEST_REDIS_DB let several test runs share one server without meeting.
DATABASES["default"]["NAME"] = DATABASES["default"]["NAME"] + "_test" + os.environ.get("EKR_TEST_DB_SUFFIX", "")  # noqa: F405,E501
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"]["NAME"]}  # noqa: F405
REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/" + os.environ.get("EKR_TEST_REDIS_DB", "1")  # noqa: F405
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = "ekr-test"  # noqa: F405
CELERY_BROKER_URL = REDIS_URL
EKR_MP_SESSION_RATE_PER_MINUTE = 10_000  # the rate-limit test sets its own

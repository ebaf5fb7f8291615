from ekr.settings.base import *
from ekr.settings.base import env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = True
EKR_TENANT_CACHE_SECONDS = 0
LOGGING["root"]["level"] = "WARNING"

# Tests own a database and a Redis db of their own; conftest creates and migrates them.
# EKR_TEST_DB_SUFFIX / EKR_TEST_REDIS_DB let several test runs share one server without meeting.
DATABASES["default"]["NAME"] = DATABASES["default"]["NAME"] + "_test" + env.str("EKR_TEST_DB_SUFFIX", default="")
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"]["NAME"]}
REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/" + env.str("EKR_TEST_REDIS_DB", default="1")
CACHES["default"]["LOCATION"] = REDIS_URL
CACHES["default"]["KEY_PREFIX"] = "ekr-test"
CELERY_BROKER_URL = REDIS_URL
EKR_MP_SESSION_RATE_PER_MINUTE = 10_000  # the rate-limit test sets its own
# Handlers the callback tests register (a real worker process loads them too).
EKR_CALLBACK_HANDLER_MODULES = [*EKR_CALLBACK_HANDLER_MODULES, "tests.callbacks.handlers"]
EKR_CALLBACK_REJECTS_PER_MINUTE = 10_000  # the rejected-callback limit test sets its own

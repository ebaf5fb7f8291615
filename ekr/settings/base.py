"""Settings shared by every environment. Everything that differs comes from environment variables, read with
django-environ (`env.int("X", default=...)`): each default is stated here once, and code reads `settings.X`
without restating it. A value starting with `$` names another variable; write `\\$` for a literal `$`."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import environ
from celery.schedules import crontab

from ekr.devservices import load_service_env

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# DATABASE_URL / REDIS_URL unset: use the embedded servers `python -m ekr.devservices start` wrote down.
load_service_env(BASE_DIR)

env = environ.Env()
env.escape_proxy = True


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-insecure-secret-key-change-me-in-production-0123456789")
# Key for secrets at rest (WeChat secrets, phone numbers). Fernet keys derived from it; see core/crypto.py.
EKR_FIELD_KEY = env.str("EKR_FIELD_KEY", default=SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=False)

EKR_BASE_DOMAIN = env.str("EKR_BASE_DOMAIN", default="localhost")
# The Domain table is the allow-list: tenants.middleware answers an unknown host with a JSON 404.
ALLOWED_HOSTS = ["*"]

# --- Tenancy -------------------------------------------------------------------------------------------------
# Decided once (moving an app between the lists later leaves migrations marked applied with no tables).
SHARED_APPS = [
    "tenants",  # Brand, Domain, WeChatApp; listed first so its migrate_schemas (template included) wins
    "django_tenants",
    "core",
    "callbacks",  # WeChat callback inbox: one public table, processed in each brand's schema by Celery
    "rights_market",  # the shared catalogue, exchanges and clearing live in public
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "axes",
    "django_htmx",
    "ekr",  # the top layer: demo data and its command; imports every app, imported by none
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "axes",
    "core",  # API tokens (core.models): a brand's users have theirs in the brand's schema
    "members",
    "points",
    "miniprograms",
    "livestream",
    "analytics",
    "rights_market.brandside",  # the brand's own side of the market (vouchers, listings' local rows)
    "console",  # the web console for store managers and HQ (top layer, pages only, no models)
]
INSTALLED_APPS = list(SHARED_APPS) + [a for a in TENANT_APPS if a not in SHARED_APPS]

TENANT_MODEL = "tenants.Brand"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "ekr.urls_public"
ROOT_URLCONF = "ekr.urls_tenants"
# New brands are cloned from a migrated template schema instead of replaying every migration.
TENANT_CREATION_FAKES_MIGRATIONS = True
TENANT_BASE_SCHEMA = "brand_template"
# `SET search_path` only when the schema changes, not on every cursor.
TENANT_LIMIT_SET_CALLS = True
# Seconds a process keeps a host -> brand look-up. Suspending a brand clears this process's entry at once.
EKR_TENANT_CACHE_SECONDS = env.int("EKR_TENANT_CACHE_SECONDS", default=10)
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "tenants.middleware.BrandMiddleware",
    "core.middleware.BodySizeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Language: the django_language cookie (the console's switch), else Accept-Language, else zh-hans.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
# Paths called machine to machine (WeChat's callbacks, which have no browser, session, login or language) are
# served by the WSGI application with this short chain only (core/wsgi.py); the ASGI entry serves the full chain.
EKR_LEAN_PATH_PREFIXES = ["/wechat/"]
EKR_LEAN_MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "tenants.middleware.BrandMiddleware",
    "core.middleware.BodySizeMiddleware",
    "django.middleware.security.SecurityMiddleware",
]
# API calls authenticated by a token header alone, with no cookie (core/wsgi.py): no session, CSRF, login,
# messages, static files or htmx, which only a browser's cookie or page needs.
EKR_TOKEN_API_PATH_PREFIXES = env.list("EKR_TOKEN_API_PATH_PREFIXES", default=["/api/"])  # "" turns it off
EKR_TOKEN_API_MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "tenants.middleware.BrandMiddleware",
    "core.middleware.BodySizeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "core.passwords.NoEmptyPasswordBackend",  # ModelBackend that refuses an empty password
]
AXES_FAILURE_LIMIT = 5  # per (username, address)
# Per username across addresses: larger, so a guesser elsewhere cannot lock a colleague out with a few tries
# (core.lockout.PerParameterLimitHandler gives each lockout parameter its own limit).
EKR_LOGIN_USERNAME_FAILURE_LIMIT = env.int("EKR_LOGIN_USERNAME_FAILURE_LIMIT", default=20)
AXES_HANDLER = "core.lockout.PerParameterLimitHandler"
AXES_COOLOFF_TIME = 1  # hours
# Locked per (username, address) and per username across addresses (a spread-out guess gets nowhere either).
# Unlock for ops: `python manage.py tenant_command axes_reset_username <username> --schema=<brand slug>` (brand
# users) or `python manage.py axes_reset_username <username>` (ops users).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"
# The console shows its own page for a locked login; the admin and the API answer 429 in the error shape
# (core.handlers.login_locked_out).
AXES_LOCKOUT_CALLABLE = "console.auth.lockout_response"
# Behind a load balancer: the META name of its header (e.g. HTTP_X_FORWARDED_FOR) and how many proxies of ours
# append to it. Unset: REMOTE_ADDR only, and a client-supplied X-Forwarded-For is ignored.
EKR_TRUSTED_PROXY_HEADER = env.str("EKR_TRUSTED_PROXY_HEADER", default="")
EKR_TRUSTED_PROXY_COUNT = env.int("EKR_TRUSTED_PROXY_COUNT", default=1)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "ekr" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "ekr.wsgi.application"

_db = dj_database_url.parse(
    env.str("DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/ekr"), conn_max_age=60
)
_db["ENGINE"] = "core.db_backend"  # django-tenants' backend, sparing a SET search_path the session already has
# A persistent connection is checked before a request reuses it: after a PostgreSQL restart a thread's first
# request reconnects instead of failing with a 500.
_db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
# Seconds a client is told to wait (Retry-After) when PostgreSQL or Redis cannot be reached (503).
EKR_UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("EKR_UNAVAILABLE_RETRY_AFTER_SECONDS", default=5)

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Every key carries the schema it was written in (django-tenants).
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "KEY_PREFIX": env.str("EKR_CACHE_PREFIX", default="ekr"),
    }
}

# Sessions are host-only (no Domain attribute): a session of one brand never works on another brand's host.
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True

# Run on every path that sets a password (core.passwords.password_validate); an empty one is never usable.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# .po files live in the repo; `make setup` compiles them (python -m ekr.locale_build: msgfmt, else polib).
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Anything over this is refused with a JSON 413 before the view reads it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
EKR_MAX_BODY_BYTES = 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.DenyAll"],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.FastJSONRenderer"],  # DRF's JSON, written by orjson
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.openapi.EkrAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 20,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ekr API",
    "DESCRIPTION": "Members, points, shops, live streams and the rights market for brands selling on WeChat.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,  # request bodies get their own components (no read-only fields in them)
    # Choice sets that share a field name ("kind", "status") get a name of their own.
    "ENUM_NAME_OVERRIDES": {
        "StoreKindEnum": "members.models.Store.Kind",
        "StoreStatusEnum": "members.models.Store.Status",
        "MemberStatusEnum": "members.models.Member.Status",
        "OfferKindEnum": "rights_market.models.Offer.Kind",
        "OfferStatusEnum": "rights_market.models.Offer.Status",
        "PointsEntryKindEnum": "points.models.PointsEntry.Kind",
        "DependencyStateEnum": ["ok", "down"],
    },
}

# --- WeChat: reached only through wechatpy, base URLs from here so tests point them at a fake on loopback ------
WECHAT_API_BASE_URL = env.str("WECHAT_API_BASE_URL", default="https://api.weixin.qq.com/")
WECHATPAY_API_BASE_URL = env.str("WECHATPAY_API_BASE_URL", default="https://api.mch.weixin.qq.com/")
WECHAT_HTTP_TIMEOUT = env.float("WECHAT_HTTP_TIMEOUT", default=5.0)
# 商家转账 scene of guides' commission (佣金报酬), as registered on the merchant platform.
WECHATPAY_TRANSFER_SCENE_ID = env.str("WECHATPAY_TRANSFER_SCENE_ID", default="1005")
# Mini-program session tokens.
EKR_MP_TOKEN_TTL_SECONDS = env.int("EKR_MP_TOKEN_TTL_SECONDS", default=7 * 24 * 3600)
# Logins per client address per minute on POST /api/v1/mp/session (atomic Redis counter, per brand).
EKR_MP_SESSION_RATE_PER_MINUTE = env.int("EKR_MP_SESSION_RATE_PER_MINUTE", default=60)

# Seconds between beat's sweeps of every brand's marked tier checks: the longest a member's tier waits after a paid
# order or an earning whose sweep was lost on the way (Redis or the broker down at the commit, a crash).
EKR_MEMBER_TIER_SWEEP_SECONDS = env.int("EKR_MEMBER_TIER_SWEEP_SECONDS", default=60)

# --- Celery ---------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / ".data" / "celerybeat-schedule")


def _every_brand(task_name: str, schedule, window_seconds: int) -> dict:
    """A beat entry for a per-brand job: core.fan_out_to_brands queues `task_name` once in each active brand's
    schema, each brand at its own offset within `window_seconds`."""
    return {
        "task": "core.fan_out_to_brands",
        "schedule": schedule,
        "kwargs": {"task_name": task_name, "window_seconds": window_seconds},
    }


# Every periodic job, in one place. Platform jobs run in the public schema; per-brand ones fan out.
CELERY_BEAT_SCHEDULE = {
    # members: tiers whose year is over are reviewed from 03:10, brands spread over 30 minutes
    "members-card-activations-send-stuck": _every_brand("members.card_activations_send_stuck", 600.0, 300),
    "members-imports-send-stuck": _every_brand("members.imports_send_stuck", 300.0, 120),
    "members-tier-downgrade": _every_brand("members.tier_downgrade_due", crontab(hour=3, minute=10), 1800),
    # members: the sweep of tier checks asked for in marks, for a sweep lost after its change committed (a change
    # queues one itself: members.services.tiers.member_tier_checks_queue)
    "members-tier-checks": _every_brand("members.tier_checks_run", float(EKR_MEMBER_TIER_SWEEP_SECONDS), 30),
    # points: lots expire at 00:00 Asia/Shanghai; the expiry runs from 00:05, brands spread over 30 minutes
    "points-expire-due": _every_brand("points.expire_due", crontab(hour=0, minute=5), 1800),
    # miniprograms: unpaid orders past their expiry (asked at WeChat Pay first), commissions past the return window
    "miniprograms-shop-pushes-send-stuck": _every_brand("miniprograms.shop_pushes_send_stuck", 300.0, 120),
    "miniprograms-cancel-unpaid-orders": _every_brand("miniprograms.cancel_unpaid_orders", 60.0, 30),
    "miniprograms-commissions-payable": _every_brand("miniprograms.commissions_mark_payable", 3600.0, 600),
    # refunds approved whose WeChat call never finished (a crash after the approval committed)
    "miniprograms-refunds-send-stuck": _every_brand("miniprograms.refunds_send_stuck", 300.0, 120),
    # commission transfers (WeChat Pay 商家转账) waiting for the guide's confirmation or WeChat's processing
    "miniprograms-payout-transfers-refresh": _every_brand("miniprograms.payout_transfers_refresh", 900.0, 300),
    # tenants: WeChat Pay's platform certificates for the service provider (rotation), twice a day
    "tenants-wechatpay-certificates": {"task": "tenants.wechatpay_certificates_refresh", "schedule": 12 * 3600.0},
    # callbacks: the inbox sweeper queues what the hand-off missed and gives back claims of dead workers
    "callbacks-sweep": {"task": "callbacks.sweep", "schedule": 60.0},
    # callbacks: rejected requests are kept as evidence for EKR_CALLBACK_REJECTED_RETENTION_DAYS, purged at 04:20
    "callbacks-purge-rejected": {"task": "callbacks.purge_rejected", "schedule": crontab(hour=4, minute=20)},
    # rights_market: re-drive stuck exchanges; close last month's statements daily at 03:10 (idempotent, so
    # running every day keeps late lines on the open statement)
    "rights-market-resume-stuck": {"task": "rights_market.exchanges_resume_stuck", "schedule": 60.0},
    "rights-market-close-statements": {
        "task": "rights_market.statements_close_last_month",
        "schedule": crontab(hour=3, minute=10),
    },
    # livestream: WeChat sends no room status callback: poll room status and goods audits every minute (a no-op
    # for brands without active rooms); also folds audiences and resumes stalled post-show coupon issues
    "livestream-sync-rooms": _every_brand("livestream.sync_rooms", 60.0, 30),
    # analytics: hourly at :20, brands spread over 20 minutes: today, the recent days and days with late facts
    "analytics-rollup": _every_brand("analytics.rollup", crontab(minute=20), 1200),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] [%(schema)s] %(name)s: %(message)s"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("EKR_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeChat takes the app secret and access tokens in query strings: urllib3 logs URLs at DEBUG, never on
        "urllib3": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
    },
}
CSRF_FAILURE_VIEW = "core.handlers.csrf_failure"

# --- members ---------------------------------------------------------------------------------------------------
# Seconds a member's card update waits to gather a burst of changes into one WeChat call.
# Member import: worker processes that read and seal a big file's pieces while batches are written (0: one per
# CPU, at most 4).
EKR_IMPORT_PROCESSES = env.int("EKR_IMPORT_PROCESSES", default=0)
# Member import: database connections that write batches at once (each batch still commits after the one before
# it, in file order; members.services.imports._Turn). 1: one writer.
EKR_IMPORT_WRITERS = env.int("EKR_IMPORT_WRITERS", default=2)
EKR_MEMBER_CARD_SYNC_DELAY_SECONDS = env.float("EKR_MEMBER_CARD_SYNC_DELAY_SECONDS", default=2.0)
# Seconds after points are earned before the member's tier is re-checked (a burst costs one check).
EKR_MEMBER_TIER_EVAL_DELAY_SECONDS = env.float("EKR_MEMBER_TIER_EVAL_DELAY_SECONDS", default=1.0)

# --- miniprograms ---------------------------------------------------------------------------------------------
MINIPROGRAMS_UNPAID_ORDER_MINUTES = env.int("MINIPROGRAMS_UNPAID_ORDER_MINUTES", default=30)
MINIPROGRAMS_GUIDE_ATTRIBUTION_DAYS = env.int("MINIPROGRAMS_GUIDE_ATTRIBUTION_DAYS", default=7)
MINIPROGRAMS_RETURN_WINDOW_DAYS = env.int("MINIPROGRAMS_RETURN_WINDOW_DAYS", default=7)
# Where the merchant's client certificate is written for requests (a fresh 0700 directory per process is made in
# it; default: the system's temp directory). Never a shared, predictable path.
EKR_PRIVATE_DIR = env.str("EKR_PRIVATE_DIR", default="")
# The platform's public base URL (how WeChat reaches us, e.g. https://ekr.example.com). Unset: derived from
# EKR_BASE_DOMAIN for local development only; production refuses to start payments without it.
EKR_PUBLIC_BASE_URL = env.str("EKR_PUBLIC_BASE_URL", default="").rstrip("/")
if not EKR_PUBLIC_BASE_URL and (
    EKR_BASE_DOMAIN in ("localhost", "127.0.0.1") or EKR_BASE_DOMAIN.endswith(".localhost")
):
    EKR_PUBLIC_BASE_URL = f"http://{EKR_BASE_DOMAIN}:8000"
# Where WeChat Pay v2 posts notifications (the callbacks app's pay endpoint on the platform host); derived from
# the public base URL unless set. Empty: payments refuse to start (payments.base.notify_url).
WECHATPAY_NOTIFY_URL = env.str("WECHATPAY_NOTIFY_URL", default="") or (
    f"{EKR_PUBLIC_BASE_URL}/wechat/pay/notify/{{appid}}/" if EKR_PUBLIC_BASE_URL else ""
)
# Where WeChat Pay APIv3 (service-provider mode) posts payment and refund notifications; derived likewise.
WECHATPAY_V3_NOTIFY_URL = env.str("WECHATPAY_V3_NOTIFY_URL", default="") or (
    f"{EKR_PUBLIC_BASE_URL}/wechat/pay/v3/notify/{{appid}}/" if EKR_PUBLIC_BASE_URL else ""
)

# --- callbacks -------------------------------------------------------------------------------------------------
# WeChat callbacks (callbacks app). A timestamp further than this from now is refused.
EKR_CALLBACK_MAX_SKEW_SECONDS = env.int("EKR_CALLBACK_MAX_SKEW_SECONDS", default=300)
# Refused callbacks: rows kept per (sender address, appid) a minute, days kept, and the largest body read (bytes).
EKR_CALLBACK_REJECTS_PER_MINUTE = env.int("EKR_CALLBACK_REJECTS_PER_MINUTE", default=20)
EKR_CALLBACK_REJECTED_RETENTION_DAYS = env.int("EKR_CALLBACK_REJECTED_RETENTION_DAYS", default=14)
EKR_CALLBACK_MAX_BODY_BYTES = env.int("EKR_CALLBACK_MAX_BODY_BYTES", default=64 * 1024)
# Pay v2 notifications are redelivered for ~24 h with their original content: refuse a time_end older than this.
EKR_CALLBACK_PAY_MAX_AGE_SECONDS = env.int("EKR_CALLBACK_PAY_MAX_AGE_SECONDS", default=2 * 24 * 3600)
EKR_CALLBACK_MAX_ATTEMPTS = env.int("EKR_CALLBACK_MAX_ATTEMPTS", default=8)
EKR_CALLBACK_RETRY_BASE_SECONDS = env.float("EKR_CALLBACK_RETRY_BASE_SECONDS", default=10.0)
# Stays under the broker's visibility timeout (a countdown longer than it is delivered again and again).
EKR_CALLBACK_RETRY_MAX_SECONDS = env.float("EKR_CALLBACK_RETRY_MAX_SECONDS", default=1800.0)
# The sweeper queues again: rows received but not queued after this many seconds (broker down at commit) ...
EKR_CALLBACK_SWEEP_RECEIVED_AFTER = env.float("EKR_CALLBACK_SWEEP_RECEIVED_AFTER", default=10.0)
# ... queued this long ago and still not picked up (message lost) ...
EKR_CALLBACK_SWEEP_QUEUED_STALE = env.float("EKR_CALLBACK_SWEEP_QUEUED_STALE", default=900.0)
# ... claimed this long ago by a worker that no longer holds the row (died) ...
EKR_CALLBACK_SWEEP_PROCESSING_STALE = env.float("EKR_CALLBACK_SWEEP_PROCESSING_STALE", default=120.0)
# ... failed and past their retry time by this much (retry message lost).
EKR_CALLBACK_SWEEP_FAILED_GRACE = env.float("EKR_CALLBACK_SWEEP_FAILED_GRACE", default=60.0)
# Extra modules that register callback handlers (besides every app's `callback_handlers` module).
EKR_CALLBACK_HANDLER_MODULES = env.list("EKR_CALLBACK_HANDLER_MODULES", default=[])

# --- rights_market ---------------------------------------------------------------------------------------------
# A fulfilment is tried this many times (voucher errors, provider timeouts) before the exchange is undone.
EKR_MARKET_MAX_FULFIL_ATTEMPTS = env.int("EKR_MARKET_MAX_FULFIL_ATTEMPTS", default=5)
# The sweeper re-drives exchanges not fulfilled or undone and untouched for this long.
EKR_MARKET_STUCK_SECONDS = env.int("EKR_MARKET_STUCK_SECONDS", default=60)
EKR_MARKET_RETRY_MAX_SECONDS = 30  # back-off cap between fulfilment tries (far below the visibility timeout)

# POS keys (miniprograms.services.pos): active keys per store, and the cap on one receipt line (fen).
EKR_POS_KEYS_PER_STORE = env.int("EKR_POS_KEYS_PER_STORE", default=3)
EKR_POS_MAX_LINE_FEN = env.int("EKR_POS_MAX_LINE_FEN", default=5_000_000)

# --- livestream ------------------------------------------------------------------------------------------------
# Audience events (POST /api/v1/mp/live/rooms/<id>/events): events per request, requests per viewer per minute,
# likes one event may carry, unfolded stream entries per room before the endpoint answers 503 (never drops).
EKR_LIVE_EVENTS_PER_BATCH = env.int("EKR_LIVE_EVENTS_PER_BATCH", default=50)
EKR_LIVE_REQUESTS_PER_MINUTE = env.int("EKR_LIVE_REQUESTS_PER_MINUTE", default=60)
EKR_LIVE_LIKES_PER_EVENT = env.int("EKR_LIVE_LIKES_PER_EVENT", default=100)
EKR_LIVE_STREAM_CAP = env.int("EKR_LIVE_STREAM_CAP", default=2_000_000)
# Seconds after a viewer's last event during which their order counts as placed from the room.
EKR_LIVE_ATTRIBUTION_SECONDS = env.int("EKR_LIVE_ATTRIBUTION_SECONDS", default=1800)
# Post-show coupons: viewers per transaction, and how long an issue may make no progress before the periodic sync
# queues it again (a worker killed midway).
EKR_LIVE_COUPON_BATCH = env.int("EKR_LIVE_COUPON_BATCH", default=1000)
EKR_LIVE_COUPON_STALE_SECONDS = env.int("EKR_LIVE_COUPON_STALE_SECONDS", default=120)

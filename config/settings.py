"""Settings for App Connections, read from the environment (and `.env` when present)."""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    VAR_DIR.mkdir(exist_ok=True)

from vault.keyring import development_secret  # noqa: E402  (no Django imports in keyring)

SECRET_KEY = env.str("SECRET_KEY", default="") or (
    development_secret(VAR_DIR / "secret_key", kind="SECRET_KEY") if DEBUG else ""
)
VAULT_KEYS = env.str("VAULT_KEYS", default="") or (
    development_secret(VAR_DIR / "vault_keys", kind="VAULT_KEYS") if DEBUG else ""
)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
BASE_URL = env.str("BASE_URL", default="http://localhost:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[BASE_URL])
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG)
# Where the catalog's sandbox apps send their requests ({sandbox} in provider files).
SANDBOX_URL = env.str("SANDBOX_URL", default=BASE_URL).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "ninja",  # the JSON API's Swagger UI from its own static files (without it: from a CDN)
    "vault",
    "catalog",
    "connections",
]
if SANDBOX_ENABLED:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "connections.middleware.TenantMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "connections.context_processors.tenancy",
                "connections.ui_context.theme",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# Persistent connections (with a health check before reuse): opening a PostgreSQL connection
# per request was the largest single cost of a proxied call. Tests open one per test instead.
DATABASES["default"].setdefault(
    "CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0 if env.bool("TESTING", default=False) else 60)
)
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat share the file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Parallel test workers (pytest-xdist) each get their own keys; the processes a
            # test starts inherit the variable and so share their worker's.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="appconn") + env.str("PYTEST_XDIST_WORKER", default=""),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "app_cache",
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# One backend (Django's, behind django-axes' lockout check): code that asks "the" backend, such
# as User.objects.with_perm, keeps working.
AUTHENTICATION_BACKENDS = ["config.signin.SignInBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "connections:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or env.bool("TESTING", default=False)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="App Connections <noreply@localhost>")

# Security: strict by default, relaxed only in development.
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
# Strict would drop the session on the provider's redirect back to our OAuth callback.
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Behind a TLS-terminating proxy: trust its X-Forwarded-Proto, and its X-Forwarded-For entry as
# the client's address (sign-in throttling, an API token's last use: connections.middleware.client_ip).
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
# Proxies in front of the app that append to X-Forwarded-For (a CDN before the TLS proxy: 2).
PROXY_HOPS = env.int("PROXY_HOPS", default=1)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every asset is served from here: no inline script or style, no event handler attributes.
# No form-action: "Link an account" posts here and is redirected to the provider, and
# Chrome applies form-action to that redirect.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Browser features the dashboard never uses are off for it and anything it could embed.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media",
        "fullscreen", "geolocation", "gyroscope", "magnetometer", "microphone", "midi",
        "payment", "picture-in-picture", "publickey-credentials-get", "screen-wake-lock",
        "usb", "xr-spatial-tracking",
    )
}

# Sign-in throttling (django-axes, database handler): after AXES_FAILURE_LIMIT wrong passwords
# for one username from one client address, that pair is refused for the cool-off; other
# addresses (the real user elsewhere) and other users behind the same address are not.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Failures during a lockout are refused without being counted, so the retry time shown holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Not ipware's guesses from client-settable headers: REMOTE_ADDR, or what our proxy appended.
AXES_CLIENT_IP_CALLABLE = "connections.middleware.client_ip"
AXES_LOCKOUT_CALLABLE = "config.signin.lockout_response"
# Password reset by email: requests per client address and per email address in the window.
PASSWORD_RESET_LIMIT = env.int("PASSWORD_RESET_LIMIT", default=5)
PASSWORD_RESET_WINDOW = env.int("PASSWORD_RESET_WINDOW", default=3600)
# Seconds a reset link stays valid (Django's default is three days).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)

# Connection behaviour.
REFRESH_WINDOW = env.int("REFRESH_WINDOW", default=600)
CHECK_INTERVAL = env.int("CHECK_INTERVAL", default=3600)
ATTEMPT_LIFETIME = env.int("ATTEMPT_LIFETIME", default=600)
# Seconds an invitation link to join a company stays valid (seven days).
INVITATION_LIFETIME = env.int("INVITATION_LIFETIME", default=7 * 24 * 3600)
ROTATION_PERIOD_DAYS = env.int("ROTATION_PERIOD_DAYS", default=90)
FAILURE_THRESHOLD = env.int("FAILURE_THRESHOLD", default=3)
CHECKS_PER_APP = env.int("CHECKS_PER_APP", default=4)
HTTP_TIMEOUT = env.float("HTTP_TIMEOUT", default=10.0)
# Outbound requests (connections/outbound.py): hosts, host:port or CIDR networks whose private
# addresses may be reached (on-premise APIs), and the largest answer read from an app.
OUTBOUND_ALLOW = env.list("OUTBOUND_ALLOW", default=[])
OUTBOUND_MAX_BYTES = env.int("OUTBOUND_MAX_BYTES", default=1024 * 1024)
# Seconds an idle connection to an app is kept for the next request to the same checked
# address (0: a new connection for every request).
OUTBOUND_KEEP_ALIVE_SECONDS = env.float("OUTBOUND_KEEP_ALIVE_SECONDS", default=4.0)
HEALTH_HISTORY = env.int("HEALTH_HISTORY", default=50)
# The credential proxy (/api/proxy/<id>/<path>, connections/services/proxy.py): the largest
# request body passed on and answer streamed back, the whole exchange's time limit, and the
# calls per minute one API token may make (0: no limit).
PROXY_MAX_REQUEST_BYTES = env.int("PROXY_MAX_REQUEST_BYTES", default=10 * 1024 * 1024)
PROXY_MAX_RESPONSE_BYTES = env.int("PROXY_MAX_RESPONSE_BYTES", default=50 * 1024 * 1024)
PROXY_TIMEOUT = env.float("PROXY_TIMEOUT", default=30.0)
PROXY_RATE_LIMIT = env.int("PROXY_RATE_LIMIT", default=600)
# Usage rows of proxied calls older than this are deleted daily (prune-proxy-calls).
PROXY_CALL_RETENTION_DAYS = env.int("PROXY_CALL_RETENTION_DAYS", default=30)

# Celery: the filesystem broker needs no server, so `make run` works on a bare machine.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# Time limits: soft < hard < the Redis visibility timeout, so a task still running is never
# delivered a second time; retry countdowns and check spreads stay below it too (ETA tasks).
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue = VAR_DIR / "celery" / "queue"
    _processed = VAR_DIR / "celery" / "processed"
    _queue.mkdir(parents=True, exist_ok=True)
    _processed.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "processed_folder": str(_processed),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = False  # opted in per idempotent task (connections/tasks.py)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
REFRESH_SWEEP_EVERY = env.float("REFRESH_SWEEP_EVERY", default=60.0)
CHECK_SWEEP_EVERY = env.float("CHECK_SWEEP_EVERY", default=300.0)
# Due checks are spread over this many seconds (countdown jitter) so they do not fire at once.
CHECK_SPREAD = env.float("CHECK_SPREAD", default=min(float(CHECK_INTERVAL), CHECK_SWEEP_EVERY))
CELERY_BEAT_SCHEDULE = {
    "refresh-due-tokens": {
        "task": "connections.tasks.refresh_due_tokens",
        "schedule": REFRESH_SWEEP_EVERY,
        "options": {"expires": max(REFRESH_SWEEP_EVERY - 5, 1)},
    },
    "check-connections": {
        "task": "connections.tasks.check_connections",
        "schedule": CHECK_SWEEP_EVERY,
        "options": {"expires": max(CHECK_SWEEP_EVERY - 10, 1)},
    },
    "rotation-reminders": {
        "task": "connections.tasks.rotation_reminders",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600},
    },
    "prune-proxy-calls": {
        "task": "connections.tasks.prune_proxy_calls",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600},
    },
    "abandon-stale-attempts": {
        "task": "connections.tasks.abandon_stale_attempts",
        "schedule": 3600.0,
        "options": {"expires": 600},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # urllib3 logs each request line at DEBUG, path and query included: where a credential
    # travels in the URL (Telegram's /bot<token>, API keys in the query) LOG_LEVEL=DEBUG would
    # write it to the log. Its warnings still show.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}

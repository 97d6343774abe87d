"""VBQ Reader settings: one module, every value from the environment, embedded defaults.

Defaults run everything on one machine with no external service: SQLite under ``var/``, tasks executed
in-process, media under ``var/media``. Real deployments set ``DATABASE_URL`` (PostgreSQL) and
``CELERY_BROKER_URL`` (Redis). Every variable is documented in ``.env.example``.
"""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VBQ_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Off unless asked for; `bin/vbq demo` turns it on for the local demo only.
DEBUG = env_bool("DEBUG", False)
# Embedded development secrets (a SECRET_KEY generated into var/secret_key, DEID_SECRET and the mapping key
# derived from it): with DEBUG (the demo), under the tests (whose worker subprocesses inherit the flag) or with
# VBQ_DEV_SECRETS=true. Everywhere else SECRET_KEY, DEID_SECRET and VBQ_MAPPING_KEY must come from the
# environment, identical on every web and worker machine: a generated key would differ between containers.
if "pytest" in sys.modules:
    os.environ.setdefault("VBQ_DEV_SECRETS", "true")
DEV_SECRETS = DEBUG or env_bool("VBQ_DEV_SECRETS", False)
_SECRET_HOWTO = {
    "SECRET_KEY": "python -c 'import secrets; print(secrets.token_urlsafe(50))'",
    "DEID_SECRET": "python -c 'import secrets; print(secrets.token_urlsafe(50))'",
    "VBQ_MAPPING_KEY": "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
}


def _required_secrets_check() -> None:
    """Refuse to start without the deployment secrets (unless DEV_SECRETS), naming each and how to make it."""
    if DEV_SECRETS:
        return
    needed = ["SECRET_KEY", "DEID_SECRET"]
    if not env_bool("VBQ_MAPPING_KEY_FROM_SECRET", False):
        needed.append("VBQ_MAPPING_KEY")
    missing = [name for name in needed if not os.environ.get(name, "").strip()]
    from django.core.exceptions import ImproperlyConfigured

    mapping_key = os.environ.get("VBQ_MAPPING_KEY", "").strip()
    if mapping_key and "VBQ_MAPPING_KEY" not in missing:
        import base64
        import binascii

        try:
            valid = len(base64.urlsafe_b64decode(mapping_key.encode())) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ImproperlyConfigured(
                "VBQ_MAPPING_KEY is not a Fernet key (32 url-safe base64 bytes). Generate one with  "
                + _SECRET_HOWTO["VBQ_MAPPING_KEY"]
            )
    if missing:
        lines = [f"  {name}: generate one with  {_SECRET_HOWTO[name]}" for name in missing]
        raise ImproperlyConfigured(
            "Missing required setting(s) "
            + ", ".join(missing)
            + " (DEBUG is off). Set them in the environment (.env for docker compose), the same on every web "
            "and worker machine, and keep them: DEID_SECRET keys the UID remapping, VBQ_MAPPING_KEY decrypts "
            "the kept Patient IDs.\n" + "\n".join(lines) + "\n(For a local trial only: DEBUG=true or "
            "VBQ_DEV_SECRETS=true use embedded development secrets.)"
        )


def _secret_key() -> str:
    """SECRET_KEY from the environment, else (DEV_SECRETS only) one generated once into var/secret_key."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


_required_secrets_check()
SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "studies",
    "scoring",
    "analytics",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # the page language: the language cookie (header switcher), else the browser's Accept-Language
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ... and a logged-in user's own choice (e-mail settings page) before both
    "notifications.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "vbqsite.urls"
WSGI_APPLICATION = "vbqsite.wsgi.application"

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
            ],
        },
    },
]

# Database: https://github.com/jazzband/dj-database-url — e.g. postgres://postgres@127.0.0.1:5432/vbq
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'vbq.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file (not :memory:) test database, so a real Celery worker process can open it in tests.
    # One per test process, so parallel test runs on one machine do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-vbq-{os.getpid()}.sqlite3")}
    # Workers and web share the file: take the write lock at BEGIN (wait, don't fail mid-transaction)
    # and let readers run beside the writer (WAL). https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-transaction-behavior
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "study-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
# English and Simplified Chinese (issue #18): pages, e-mails and the viewer. Catalogues: locale/<lang>/LC_MESSAGES
# (django.po committed; django.mo compiled by bin/vbq setup and the image). Statistical tables and CSV/API
# column names stay English.
LANGUAGES = [("en-gb", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    # Any Django storage backend can hold the de-identified DICOM files (e.g. django-storages S3);
    # all web and worker machines must see the same one.
    "default": {"BACKEND": os.environ.get("MEDIA_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"  # never served publicly: DICOM files go through the authenticated instance view
# Pixel grants (studies/pixel_grants.py): the viewer's instance links are signed for one session and series and
# live this long — also how long a revoked membership can still fetch images already granted (default 2 h).
PIXEL_GRANT_SECONDS = 60 * int(os.environ.get("VBQ_PIXEL_GRANT_MINUTES", "120"))
# Links are stable within this window (browser cache hits on revisited cases); a grant lives at least
# PIXEL_GRANT_SECONDS minus this.
PIXEL_GRANT_BUCKET_SECONDS = min(600, max(1, PIXEL_GRANT_SECONDS // 4))
# Behind nginx (deploy/nginx.conf): the internal location that maps to MEDIA_ROOT, e.g. "/_media/"; Django then
# answers with X-Accel-Redirect and nginx sends the file. Empty: Django sends it (sendfile via wsgi.file_wrapper).
PIXEL_ACCEL_REDIRECT = os.environ.get("VBQ_PIXEL_ACCEL_REDIRECT", "")
# Behind nginx (deploy/nginx.conf): the secret nginx's secure_link checks the viewer's instance links with
# (studies/pixel_links.py); the same value in web and nginx. Set: nginx verifies and sends each file, no Python per
# request. Empty: pixel-grant links, checked by Python (studies/pixel_grants.py).
PIXEL_LINK_SECRET = os.environ.get("VBQ_PIXEL_LINK_SECRET", "")
# Import uploads (the identified zip, kept until its job has run): on storage that web and workers share, so a
# worker on another machine or container can open what the web stored. Default: MEDIA_ROOT/uploads.
UPLOAD_ROOT = Path(os.environ.get("UPLOAD_ROOT", MEDIA_ROOT / "uploads"))
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# The largest import upload (a zip) the web accepts: a bigger one is refused (413) before it is stored.
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", str(4 * 1024**3)))
# Extracting an import zip stops (the import fails with a clear message) as soon as the archive expands to more
# than IMPORT_ZIP_MAX_BYTES (default 32 GiB), holds more than IMPORT_ZIP_MAX_FILES files (default 200 000), or a
# member of more than 1 MiB expands more than IMPORT_ZIP_MAX_RATIO times its compressed size (default 200:1;
# DICOM images compress 2-10:1, a zip bomb ~1000:1). Counted on the bytes actually written, not the zip's header.
IMPORT_ZIP_MAX_BYTES = int(os.environ.get("VBQ_IMPORT_ZIP_MAX_BYTES", str(32 * 1024**3)))
IMPORT_ZIP_MAX_FILES = int(os.environ.get("VBQ_IMPORT_ZIP_MAX_FILES", "200000"))
IMPORT_ZIP_MAX_RATIO = int(os.environ.get("VBQ_IMPORT_ZIP_MAX_RATIO", "200"))
# Import temporary folders (/tmp/vbq-import-*) and stored uploads older than this are removed by the
# import-sweep beat task (a running import refreshes its own); default 6 hours.
IMPORT_ORPHAN_MAX_AGE_SECONDS = int(os.environ.get("VBQ_IMPORT_ORPHAN_MAX_AGE_SECONDS", str(6 * 3600)))

# E-mail: set-password links go to the console unless SMTP is configured.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "VBQ Reader <noreply@localhost>")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")
# Reminder e-mails (notifications app; each user turns each kind off at /account/email/). Every
# VBQ_NOTIFY_INTERVAL_SECONDS (default 15 minutes) the reminders sweep e-mails readers whose repeat reads opened
# and about PI actions on their reads, looking back VBQ_NOTIFY_LOOKBACK_HOURS (default 48: a beat down for less
# than that loses nothing; older openings are not announced). The daily digest goes to PIs once the local time
# (TIME_ZONE) reaches VBQ_DIGEST_HOUR (default 7).
NOTIFY_SWEEP_INTERVAL_SECONDS = float(os.environ.get("VBQ_NOTIFY_INTERVAL_SECONDS", "900"))
NOTIFY_LOOKBACK_HOURS = float(os.environ.get("VBQ_NOTIFY_LOOKBACK_HOURS", "48"))
NOTIFY_DIGEST_HOUR = int(os.environ.get("VBQ_DIGEST_HOUR", "7"))

# HTTPS hardening: https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000")) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", False) else None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(12 * 3600)))
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# REST API: https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that anonymous API calls get 401 (with WWW-Authenticate), not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies must be objects (a list, scalar or null is a 400, not a crash in a view).
    "DEFAULT_PARSER_CLASSES": [
        "studies.api.parsers.ObjectJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": os.environ.get("API_THROTTLE_USER", "6000/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "EXCEPTION_HANDLER": "studies.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VBQ Reader API",
    "DESCRIPTION": "Multi-reader MRI bone-quality studies: studies, reads, ROIs, scores and analytics.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Several models have a "status": each choice set gets its own stable name (not a hash-suffixed one).
    "ENUM_NAME_OVERRIDES": {
        "ReadStatusEnum": "studies.models.Read.Status",
        "ImportJobStatusEnum": "studies.models.ImportJob.Status",
    },
}

# Celery: https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
# No broker configured: run tasks in-process (single-machine default); the database stays the
# source of truth either way, and the periodic sweep catches anything a lost job left undone.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "600"))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "660"))
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # acks_late + a visibility timeout: a job whose worker died is redelivered to another worker.
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "900")),
    # How often a worker looks for such jobs: every interval × throttle seconds (kombu's Redis transport).
    "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", "6")),
    # A broker that accepts connections but does not answer must not hang the request that queues a job
    # (an import or rescore POST answers 503 instead): seconds to connect, and to wait for each reply.
    "socket_connect_timeout": float(os.environ.get("CELERY_BROKER_SOCKET_CONNECT_TIMEOUT", "2")),
    "socket_timeout": float(os.environ.get("CELERY_BROKER_SOCKET_TIMEOUT", "3")),
}
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_SOCKET_CONNECT_TIMEOUT", "2"))
# Sending a job: 2 retries 0.2 s apart, then the broker counts as down (refused: < 1 s; no answer: ~3 s).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# No job stuck (imports, whole-study rescores; vbqsite/jobs.py): a running job writes a heartbeat at most once a
# second. The job sweep (import-sweep and rescore-jobs-sweep, every minute) queues again a running job silent for
# longer than JOB_HEARTBEAT_TIMEOUT_SECONDS (default 5 minutes: its worker died), at most JOB_MAX_REQUEUES times
# (default 1), then marks it failed ("The worker running this import stopped ..."); a job still queued after
# JOB_QUEUED_TIMEOUT_SECONDS (default 10 minutes: the broker lost it, or no worker runs) is queued again at most
# JOB_QUEUED_MAX_REQUEUES times (default 3), then failed. Make the timeouts longer than the longest silent step.
JOB_HEARTBEAT_TIMEOUT_SECONDS = int(os.environ.get("VBQ_JOB_HEARTBEAT_TIMEOUT_SECONDS", "300"))
JOB_MAX_REQUEUES = int(os.environ.get("VBQ_JOB_MAX_REQUEUES", "1"))
JOB_QUEUED_TIMEOUT_SECONDS = int(os.environ.get("VBQ_JOB_QUEUED_TIMEOUT_SECONDS", "600"))
JOB_QUEUED_MAX_REQUEUES = int(os.environ.get("VBQ_JOB_QUEUED_MAX_REQUEUES", "3"))
JOB_SWEEP_INTERVAL_SECONDS = float(os.environ.get("VBQ_JOB_SWEEP_INTERVAL_SECONDS", "60"))
# ROIs stored per transaction by a whole-study rescore (whole slices at a time).
SCORING_RESCORE_CHUNK = int(os.environ.get("SCORING_RESCORE_CHUNK", "200"))

CELERY_BEAT_SCHEDULE = {
    "scoring-sweep": {"task": "scoring.tasks.scoring_sweep", "schedule": 60.0},
    "worker-heartbeat": {"task": "studies.tasks.worker_heartbeat", "schedule": 30.0},
    # stuck import jobs, then leftovers (IMPORT_ORPHAN_MAX_AGE_SECONDS); stuck rescores, snapshot builds, re-keyings
    "import-sweep": {"task": "studies.tasks.import_sweep", "schedule": JOB_SWEEP_INTERVAL_SECONDS},
    "rescore-jobs-sweep": {"task": "scoring.tasks.rescore_jobs_sweep", "schedule": JOB_SWEEP_INTERVAL_SECONDS},
    "snapshot-jobs-sweep": {"task": "analytics.tasks.snapshot_jobs_sweep", "schedule": JOB_SWEEP_INTERVAL_SECONDS},
    "rekey-jobs-sweep": {"task": "studies.tasks.rekey_jobs_sweep", "schedule": JOB_SWEEP_INTERVAL_SECONDS},
    # reminder e-mails (repeat reads opened, PI actions) and, hourly, the PIs' daily digest (sent once a day)
    "reminders-sweep": {"task": "notifications.tasks.reminders_sweep", "schedule": NOTIFY_SWEEP_INTERVAL_SECONDS},
    "daily-digest": {"task": "notifications.tasks.daily_digest_send", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},  # one line per task in eager mode is noise
        "pydicom": {"level": "ERROR"},  # decoder fallbacks log tracebacks for files we reject anyway
    },
}

# Study-level secrets (UID remapping) are derived from this; set it in deployments to keep UID
# remapping stable across SECRET_KEY rotation.
DEID_SECRET = os.environ.get("DEID_SECRET") or SECRET_KEY  # required unless DEV_SECRETS (checked above)

# Key (a Fernet key) that encrypts the original Patient IDs a study keeps for its PI (keep_subject_mapping).
# Required when DEBUG is off (checked at start-up); with DEV_SECRETS (the demo, the tests) a key derived from
# SECRET_KEY is used instead (VBQ_MAPPING_KEY_FROM_SECRET=true asks for that elsewhere too).
VBQ_MAPPING_KEY = os.environ.get("VBQ_MAPPING_KEY", "")
VBQ_MAPPING_KEY_FROM_SECRET = DEV_SECRETS or env_bool("VBQ_MAPPING_KEY_FROM_SECRET", False)

# DICOMweb servers a PI registers: the server refuses to connect to loopback, link-local (cloud metadata),
# unspecified and multicast addresses (studies/services/remote_urls.py). Named exceptions, comma-separated host
# names, IP addresses or CIDR ranges, e.g. a PACS on this machine: VBQ_DICOMWEB_ALLOW_HOSTS=127.0.0.1
DICOMWEB_ALLOW_HOSTS = env_list("VBQ_DICOMWEB_ALLOW_HOSTS")

# DICOM import: worker processes that inspect, de-identify and write files (unset: one per CPU, at most 8;
# 0: everything in the importing process). Imports of fewer files than IMPORT_PARALLEL_MIN_FILES run in-process.
IMPORT_PROCESSES = int(os.environ["VBQ_IMPORT_PROCESSES"]) if os.environ.get("VBQ_IMPORT_PROCESSES") else None
IMPORT_PARALLEL_MIN_FILES = int(os.environ.get("VBQ_IMPORT_PARALLEL_MIN_FILES", "64"))

# --- Hardening (#21): login lockout, throttles, Content-Security-Policy, API docs offline, HTTPS extras ---------
INSTALLED_APPS += ["axes", "drf_spectacular_sidecar"]
MIDDLEWARE += [
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into a 429 answer
]
# django-axes: every login path (/login/, /admin/login/, /api/token/) goes through authenticate(), which refuses a
# locked-out user before the password is checked. https://django-axes.readthedocs.io/
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))  # the 5th wrong password locks; 6th refused
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
# Which attempts count together: "username+ip_address" (default) locks that user from that address; "username"
# locks the account from anywhere; alternatives are comma-separated (e.g. "username,ip_address").
AXES_LOCKOUT_PARAMETERS = [
    part.split("+") if "+" in part else part for part in env_list("LOGIN_LOCKOUT_BY", "username+ip_address")
]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
if env_bool("BEHIND_PROXY", False):  # the client address from the proxy's X-Forwarded-For (one proxy)
    AXES_IPWARE_PROXY_COUNT = 1
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")

# Throttles: anonymous API calls, and the token endpoint per client address (on top of the lockout). A shared cache
# (CACHE_URL=redis://…) makes the counts hold across gunicorn workers and machines.
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "rest_framework.throttling.AnonRateThrottle",
    *REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"],
]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] |= {
    "anon": os.environ.get("API_THROTTLE_ANON", "300/min"),
    "login": os.environ.get("API_THROTTLE_LOGIN", "30/min"),
}
if os.environ.get("CACHE_URL"):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["CACHE_URL"]}
    }

# Content-Security-Policy (django-csp): scripts, workers and WebAssembly (the viewer's codecs) from this site only;
# no inline script anywhere (page data goes through json_script, which is not executed).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "worker-src": ["'self'", "blob:"],
        "style-src": ["'self'"],
        # style attributes set by script (Cornerstone sizes its canvases and SVG layers that way); no <style> element
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# /api/docs/ loads Swagger UI from our static files (drf-spectacular-sidecar), never from a CDN.
SPECTACULAR_SETTINGS |= {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Schema-generation hints are API-documentation work, not deployment issues: keep them out of `check --deploy`.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}

# HTTPS extras (with HTTPS=true): HSTS preload only when asked (it is a commitment to browsers' lists); /healthz
# stays on plain HTTP for container healthchecks.
SECURE_HSTS_PRELOAD = HTTPS and env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_REFERRER_POLICY = "same-origin"
CSRF_COOKIE_HTTPONLY = False  # the viewer reads it to send X-CSRFToken
LOGGING["loggers"]["axes"] = {"level": "WARNING"}  # failed logins and lockouts, not every successful login

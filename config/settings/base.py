"""Anju settings, read from the environment (see README "Configuration")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    private_dir,
    private_sqlite_file,
    secret_from_env_or_file,
)

BASE_DIR = Path(__file__).resolve().parents[2]
# Created 0700 (and tightened if looser): it holds the database with sessions and TOTP secrets, and keys/.
VAR_DIR = private_dir(Path(env_str("ANJU_VAR_DIR", str(BASE_DIR / "var"))))
KEYS_DIR = VAR_DIR / "keys"

SECRET_KEY = secret_from_env_or_file("SECRET_KEY", KEYS_DIR / "secret_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Field encryption (DESIGN.md §4): comma-separated Fernet keys, newest first; the blind
# index key is separate so exact-match lookups never need the encryption keys.
ANJU_FIELD_KEYS = [
    key.strip()
    for key in secret_from_env_or_file(
        "ANJU_FIELD_KEYS", KEYS_DIR / "field_keys", generate=lambda: Fernet.generate_key().decode()
    ).split(",")
]
ANJU_BLIND_INDEX_KEY = secret_from_env_or_file("ANJU_BLIND_INDEX_KEY", KEYS_DIR / "blind_index_key")
# Audit chain (issue #9): HMAC keys, newest first, kept outside the database like the field keys;
# checkpoints of the chain head are appended to the anchor file (ship it off-host with the backups).
ANJU_AUDIT_KEYS = [
    key.strip() for key in secret_from_env_or_file("ANJU_AUDIT_KEYS", KEYS_DIR / "audit_keys").split(",")
]
ANJU_AUDIT_ANCHOR_FILE = Path(env_str("ANJU_AUDIT_ANCHOR_FILE", str(VAR_DIR / "audit-anchors.jsonl")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_tasks",
    "django_tasks_db",
    "anju.core",
    "anju.org",
    "anju.customers",
    "anju.listings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "anju.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "anju.core.middleware.HtmxVaryMiddleware",
    "anju.org.middleware.TwoFactorRequiredMiddleware",
    # Last, as django-axes asks, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "anju" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "anju.core.context_processors.navigation",
            ],
        },
    },
]

# Database: DATABASE_URL in URL form; default SQLite in var/ with WAL (set on connect).
_database_url = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'anju.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    # A writer waits up to 15 s for the write lock instead of failing at once (issue #9): long work
    # (imports) holds the lock only for its short final write, so a wait is brief, never an error page.
    DATABASES["default"]["OPTIONS"].update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=15000;",
            "timeout": 15,
            "transaction_mode": "IMMEDIATE",
        }
    )
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        private_sqlite_file(Path(DATABASES["default"]["NAME"]))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "org.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "anju.org.auth_backends.RoleBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("username", "display_name", "email", "employee_no"), "max_similarity": 0.7},
    },
    # A username repeated or padded with digits (qaqaqaqaqa, agent2026!!) slips under the similarity check.
    {"NAME": "anju.org.validators.NotBuiltFromUsername"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sessions: idle timeout — every request pushes the expiry forward.
SESSION_IDLE_MINUTES = env_int("ANJU_SESSION_IDLE_MINUTES", 30, minimum=1)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE = env_bool("ANJU_SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
if SECURE:
    SECURE_SSL_REDIRECT = env_bool("ANJU_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("ANJU_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp; issue #9): only our own scripts, styles and fonts, so injected
# markup cannot run script or load from elsewhere. No inline script, handler or style attribute is
# allowed: behaviour lives in static/anju/*.js, looks in anju.css. data: images are Bootstrap's own
# SVG icons (select arrows, close buttons); htmx's inline indicator style is off (base.html meta).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Login lockout (django-axes): per username + IP.
AXES_FAILURE_LIMIT = env_int("ANJU_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ANJU_LOCKOUT_MINUTES", 30, minimum=1))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "anju.org.views.auth.lockout_response"
AXES_VERBOSE = False
# Failed attempts store the request's form fields: mask every password and code field, not only "password".
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "old_password", "new_password", "confirm", "otp", "code"]

# Two-factor sign-in (anju.org.services.two_factor): the name authenticator apps show for the account.
OTP_TOTP_ISSUER = "Anju 安居"
# Wrong codes: 1 s, 2 s, 4 s … between attempts (django-otp's throttle), per device.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# Internationalisation: zh-Hans first, English complete.
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "anju" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [BASE_DIR / "anju" / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "anju.core.staticfinders.VendorFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = private_dir(VAR_DIR / "media")
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
MEDIA_URL = "/media/"

# Background work: Django's Tasks API on the database backend (django-tasks-db).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if env_str("REDIS_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("REDIS_URL")}}

ANJU_DEMO_PASSWORD = env_str("ANJU_DEMO_PASSWORD", "anju-demo-2026")
ANJU_API_TOKEN_DAYS = env_int("ANJU_API_TOKEN_DAYS", 90, minimum=1)

# Issue #9 defect 2: every handler masks phone and ID numbers (anju.core.logredact); Django's own
# "django" and "django.server" handlers are replaced so nothing reaches a stream around the filter.
# gunicorn's access and error logs get the same filter from config/gunicorn.conf.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "anju.core.context.RequestContextLogFilter"},
        "redact": {"()": "anju.core.logredact.RedactingFilter"},
        "expected_403": {"()": "anju.core.logredact.ExpectedForbiddenFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_context", "redact"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        # Issue #9 defect 12: an expected 403 is one INFO line, without a traceback.
        "django.request": {"filters": ["expected_403"]},
    },
}

# Only behind a reverse proxy that sets X-Forwarded-For may the client IP be taken from it.
ANJU_TRUST_PROXY = env_bool("ANJU_TRUST_PROXY", False)

# Customers (issue #3): privacy-policy version recorded with each consent; reveal rate limit.
ANJU_PRIVACY_POLICY_VERSION = env_str("ANJU_PRIVACY_POLICY_VERSION", "2026.1")
ANJU_REVEAL_LIMIT_PER_HOUR = env_int("ANJU_REVEAL_LIMIT_PER_HOUR", 20, minimum=1)
# Issue #9: collision answers (撞单) naming an owner, per user and hour; past it the answer names nobody.
ANJU_COLLISION_LIMIT_PER_HOUR = env_int("ANJU_COLLISION_LIMIT_PER_HOUR", 20, minimum=1)

# Listings (issue #4): the largest photo or floor plan accepted, in MB.
ANJU_MAX_UPLOAD_MB = env_int("ANJU_MAX_UPLOAD_MB", 10, minimum=1)

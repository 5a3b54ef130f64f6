"""Kukkaro settings: one file, driven by the environment (see .env.example).

With nothing set, Kukkaro runs as a development demo on SQLite. ``KUKKARO_ENV=production`` switches on every
production safeguard and refuses to start without the secrets it needs.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# development | test | production. Unset means development, which is only allowed on SQLite: a server pointed at
# PostgreSQL must say what it is, so a forgotten variable never starts production with DEBUG and the test IdP.
KUKKARO_ENV = env.str("KUKKARO_ENV", default="development")
if "KUKKARO_ENV" not in env.ENVIRON and env.str("DATABASE_URL", default="").startswith(("postgres", "pgsql")):
    raise ImproperlyConfigured("Set KUKKARO_ENV (production, test or development) when DATABASE_URL is PostgreSQL")
if KUKKARO_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"KUKKARO_ENV must be development, test or production, not {KUKKARO_ENV!r}")
PRODUCTION = KUKKARO_ENV == "production"

DEBUG = env.bool("DEBUG", default=KUKKARO_ENV == "development")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG cannot be on when KUKKARO_ENV=production")

if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-do-not-use-in-production-0123456789")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "modeltranslation",  # must precede django.contrib.admin-like apps that read model fields
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks_db",
    "axes",
    "kukkaro.core",
    "kukkaro.people",
    "kukkaro.ledger",
    "kukkaro.cases",
    "kukkaro.services",
    "kukkaro.mobility",
    "kukkaro.portal",
    "kukkaro.api",
    "kukkaro.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "kukkaro.core.middleware.RequestIdMiddleware",
    # Outside sessions and authentication, so it sees every answer, the lockout page and redirects included.
    "kukkaro.core.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every view needs a signed-in user unless it is declared public in kukkaro.core.permissions.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages (it says why), before any view: a session past its absolute lifetime is signed out.
    "kukkaro.core.sessions.SessionLifetimeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
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
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kukkaro.core.context_processors.layout",
            ],
            "builtins": ["kukkaro.core.templatetags.components"],
        },
    }
]

# --- Database -------------------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'var' / 'kukkaro.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of failing mid-transaction;
    # the audit hash chain relies on that serialisation on SQLite.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        }
    )
    (BASE_DIR / "var").mkdir(exist_ok=True)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "people.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "people:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:home"

# Lockout (ADR 0006): five failed passwords for one username from one address lock that pair for 15 minutes;
# fifty from one address, whatever the usernames, lock the address (kukkaro.people.lockout). Failures elsewhere
# never lock a person out of their account from their own address.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_ADDRESS_FAILURE_LIMIT = env.int("AXES_ADDRESS_FAILURE_LIMIT", default=50)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "kukkaro.people.lockout.LockoutHandler"
AXES_CLIENT_IP_CALLABLE = "kukkaro.people.lockout.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "kukkaro.people.views.locked_out"
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False

# Audit chain keys (HMAC-SHA256, ADR 0020): "id:base64key,id:base64key,...". The first seals new rows; the others
# only verify rows sealed before a rotation. They live in the environment, never in the database. Development and
# tests use one fixed, public key; production refuses to start without its own, or with the public one.
DEVELOPMENT_AUDIT_HMAC_KEYS = "dev:a3Vra2Fyby1kZXZlbG9wbWVudC1hdWRpdC1rZXktbm90LWEtc2VjcmV0"
AUDIT_HMAC_KEYS = (
    env.str("AUDIT_HMAC_KEYS") if PRODUCTION else env.str("AUDIT_HMAC_KEYS", default=DEVELOPMENT_AUDIT_HMAC_KEYS)
)
if PRODUCTION and DEVELOPMENT_AUDIT_HMAC_KEYS.partition(":")[2] in AUDIT_HMAC_KEYS:
    raise ImproperlyConfigured("AUDIT_HMAC_KEYS contains the public development key; production needs its own")

# Identification of clients and supporters (shaped like Suomi.fi strong identification). The test provider is
# refused outright in production: see kukkaro.people.identification.
IDENTIFICATION_ADAPTER = env.str(
    "IDENTIFICATION_ADAPTER",
    default="" if PRODUCTION else "kukkaro.people.identification.TestIdentityProvider",
)
if PRODUCTION and IDENTIFICATION_ADAPTER.endswith("TestIdentityProvider"):
    raise ImproperlyConfigured("The test identity provider cannot be enabled when KUKKARO_ENV=production")

# --- Sessions and transport security ----------------------------------------------------------------------
SESSION_COOKIE_NAME = "kukkaro_session"
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=30 * 60)  # idle timeout
SESSION_SAVE_EVERY_REQUEST = True
# However active, a session ends this long after sign-in (kukkaro.core.sessions); the page warns this many
# seconds before the idle timeout or the end of the lifetime and offers to continue (WCAG 2.2.1).
SESSION_ABSOLUTE_SECONDS = env.int("SESSION_ABSOLUTE_SECONDS", default=12 * 3600)
SESSION_WARNING_SECONDS = env.int("SESSION_WARNING_SECONDS", default=120)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "style-src": ["'self'"],
    "script-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
}
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    if env.bool("BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies in front of Kukkaro append the client's address to X-Forwarded-For; the lockout takes the
# address the outermost one saw (kukkaro.people.lockout.client_address). 0 means REMOTE_ADDR. Behind the TLS
# proxy it defaults to 1, or every client would share the proxy's address and its lockout limit.
TRUSTED_PROXY_COUNT = env.int(
    "TRUSTED_PROXY_COUNT", default=1 if PRODUCTION and env.bool("BEHIND_TLS_PROXY", True) else 0
)

# --- Languages, time and formats -------------------------------------------------------------------------
LANGUAGE_CODE = "fi"
LANGUAGES = [("fi", _("Finnish")), ("sv", _("Swedish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "kukkaro_language"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = PRODUCTION
MODELTRANSLATION_DEFAULT_LANGUAGE = "fi"
MODELTRANSLATION_LANGUAGES = ("fi", "sv", "en")
MODELTRANSLATION_FALLBACK_LANGUAGES = ("fi",)
TIME_ZONE = "Europe/Helsinki"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["kukkaro.core.formats"]

# --- Static files -----------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Background jobs (django-tasks-db) --------------------------------------------------------------------
# The demo and the tests run tasks immediately; production queues them in the database for `kukkaro db_worker`.
TASKS = {
    "default": {
        "BACKEND": env.str(
            "TASKS_BACKEND",
            default="django_tasks_db.DatabaseBackend"
            if PRODUCTION
            else "django.tasks.backends.immediate.ImmediateBackend",
        )
    }
}

# --- Logging ---------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}

# Mobility: an approved trip's hold lapses this many days after the end of the pickup's month, by when the
# dispatch centre's monthly trip file has settled it (issue 7).
KUKKARO_TRIP_HOLD_DAYS = env.int("KUKKARO_TRIP_HOLD_DAYS", default=7)

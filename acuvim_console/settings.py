"""Settings for Acuvim Console, read from the environment.

Every variable has an embedded default so that `make run` works on a laptop with no services
(SQLite, in-memory channel layer, in-process MQTT broker and scheduler). Production sets
DATABASE_URL, REDIS_URL and MQTT_URL (see README.md and .env.example).
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url

from acuvim_console.env import env_bool, env_float, env_int, env_list, load_or_create_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data")).resolve()

SECRET_KEY = os.environ.get("SECRET_KEY") or load_or_create_secret_key(DATA_DIR / "secret_key")
DEBUG = env_bool("DEBUG", False)
# Production refuses insecure settings (acuvim_console.operators.checks). Unset: production when the console uses an
# external broker or Redis, as every deployment does; `make run` (embedded) is development.
PRODUCTION = env_bool("PRODUCTION", bool(os.environ.get("MQTT_URL") or os.environ.get("REDIS_URL")))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular_sidecar",
    "django_filters",
    "drf_spectacular",
    "corsheaders",
    "django_celery_beat",
    "axes",
    "acuvim_console",
    "acuvim_console.operators",
    "acuvim_console.audit",
    "groups",
    "devices",
    "telemetry",
    "alerts",
    "firmware",
]

MIDDLEWARE = [
    "acuvim_console.web_metrics.RequestTimingMiddleware",  # first: the time includes the other middleware
    "django.middleware.security.SecurityMiddleware",
    "acuvim_console.request_guards.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "acuvim_console.security.ContentSecurityPolicyMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "acuvim_console.audit.recording.AuditRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "acuvim_console.request_guards.AdminSelectionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a lockout into the 429 page
]

ROOT_URLCONF = "acuvim_console.urls"
ASGI_APPLICATION = "acuvim_console.asgi.application"

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

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'acuvim.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Parallel test runs (CI, several developers or checkouts on one machine) each get their own test database:
# TEST_DB_SUFFIX, or else the checkout's folder name.
_TEST_DB_SUFFIX = os.environ.get("TEST_DB_SUFFIX") or re.sub(r"\W", "_", BASE_DIR.name)
DATABASES["default"]["TEST"] = {"NAME": f"test_acuvim_{_TEST_DB_SUFFIX}"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Embedded mode writes from several threads (bridge writer and workers, scheduler, web requests). A
    # transaction that reads and then writes, begun DEFERRED, cannot wait for the write lock: SQLite answers
    # "database is locked" at once rather than risk a deadlock. Begun IMMEDIATE, it takes the lock first, so
    # writers queue up on the busy timeout instead; WAL lets readers go on meanwhile, and synchronous=NORMAL
    # is WAL's safe setting (a power cut may lose the last commits, never corrupt the file).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
    DATABASES["default"]["TEST"]["NAME"] = None  # in-memory
# Django warns that SQLite cannot INCLUDE columns in a unique key and so creates none; the telemetry key
# (telemetry.constraints.CoveringUniqueConstraint) falls back to the plain key there, so the warning is wrong.
SILENCED_SYSTEM_CHECKS = ["models.W039"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# django-axes sees every password check (admin and API login) and locks out an address after
# LOGIN_FAILURE_LIMIT failures, and a username after as many failures from anywhere, for
# LOGIN_LOCKOUT_MINUTES. A successful login resets the count. Addresses: acuvim_console.operators.client_address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "acuvim_console.operators.client_address.client_address"
AXES_LOCKOUT_TEMPLATE = "admin/acuvim/login_locked.html"
# Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma separated), e.g.
# TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8. Empty: the header is ignored and the peer address counts.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
# Bearer token that /metrics (web) and the bridge's metrics port require; empty: loopback clients only.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ----------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # serve straight from the apps in embedded mode; collectstatic in production
MEDIA_ROOT = DATA_DIR / "media"

# Firmware images are private: stored outside STATIC/MEDIA URLs and only served by the
# authenticated download endpoint. FIRMWARE_STORAGE=s3 switches to S3-compatible storage.
FIRMWARE_STORAGE = os.environ.get("FIRMWARE_STORAGE", "local")
if FIRMWARE_STORAGE == "s3":
    _firmware_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("FIRMWARE_S3_BUCKET", "acuvim-firmware"),
            "endpoint_url": os.environ.get("FIRMWARE_S3_ENDPOINT_URL") or None,
            "access_key": os.environ.get("FIRMWARE_S3_ACCESS_KEY") or None,
            "secret_key": os.environ.get("FIRMWARE_S3_SECRET_KEY") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "location": "firmware",
        },
    }
else:
    _firmware_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "firmware"), "base_url": None},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "firmware": _firmware_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
FIRMWARE_MAX_BYTES = env_int("FIRMWARE_MAX_BYTES", 4 * 1024 * 1024)
# Chips an uploaded image may be built for (the image header's chip id); the TTGO T-Call carries an ESP32.
FIRMWARE_ALLOWED_CHIPS = env_list("FIRMWARE_ALLOWED_CHIPS", ["ESP32"])
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Redis, channels, celery ------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("CHANNEL_PREFIX", "acuvim")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Live pages (devices.cockpit): a device page gets at most one telemetry event per this many seconds
# (newer readings replace older ones in between); dashboards' counters refresh every
# LIVE_COUNTERS_INTERVAL_S, a burst of changes within LIVE_COUNTERS_DEBOUNCE_S merging into one refresh;
# list pages hear their devices' last-seen times every LIVE_SEEN_INTERVAL_S.
LIVE_TELEMETRY_INTERVAL_S = env_float("LIVE_TELEMETRY_INTERVAL_S", 0.3)
LIVE_COUNTERS_INTERVAL_S = env_float("LIVE_COUNTERS_INTERVAL_S", 15.0)
LIVE_COUNTERS_DEBOUNCE_S = env_float("LIVE_COUNTERS_DEBOUNCE_S", 1.0)
LIVE_SEEN_INTERVAL_S = env_float("LIVE_SEEN_INTERVAL_S", 10.0)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Without Redis there is no worker: tasks run inline and runconsole drives the periodic ones.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
HEALTH_SWEEP_SECONDS = env_int("HEALTH_SWEEP_SECONDS", 30)
COMMAND_TIMEOUT_SECONDS = env_int("COMMAND_TIMEOUT_SECONDS", 60)
OTA_COMMAND_TIMEOUT_SECONDS = env_int("OTA_COMMAND_TIMEOUT_SECONDS", 15 * 60)

# --- Commands and device health (devices.control.commands, devices.health.sweep, devices.health.anomalies) ---
# A command not delivered within this time (device offline) expires instead of running late.
COMMAND_EXPIRY_SECONDS = env_int("COMMAND_EXPIRY_SECONDS", 3600)
# How long a request waits for the broker to accept a command before leaving it pending for the sweep.
COMMAND_PUBLISH_TIMEOUT_SECONDS = env_int("COMMAND_PUBLISH_TIMEOUT_SECONDS", 5)
# Missed heartbeat intervals (each device's own `hb_s`) before it is degraded, then offline.
HEALTH_DEGRADED_AFTER_MISSED = env_int("HEALTH_DEGRADED_AFTER_MISSED", 3)
HEALTH_OFFLINE_AFTER_MISSED = env_int("HEALTH_OFFLINE_AFTER_MISSED", 5)
# A device its LWT took offline gets a `device_offline` alert once it has stayed away for the longer of
# its offline threshold (the missed intervals above) and this many seconds: reboots, OTA restarts and
# WiFi/GSM failovers reconnect within that time and raise nothing.
HEALTH_OFFLINE_ALERT_GRACE_SECONDS = env_int("HEALTH_OFFLINE_ALERT_GRACE_SECONDS", 180)
# Up to this many transitions per sweep get per-device events and alerts; a mass outage beyond it is
# written in bulk and announced with one fleet event, so a broker failure cannot stall the sweep.
HEALTH_SWEEP_DETAIL_LIMIT = env_int("HEALTH_SWEEP_DETAIL_LIMIT", 500)
# Heartbeat anomalies that raise console alerts.
HEALTH_ANOMALIES = {
    "reboot_loop_boots": env_int("HEALTH_REBOOT_LOOP_BOOTS", 3),  # boots within the window
    "reboot_loop_window_s": env_int("HEALTH_REBOOT_LOOP_WINDOW_S", 3600),
    "heap_low_bytes": env_int("HEALTH_HEAP_LOW_BYTES", 30 * 1024),
    "heap_falling_heartbeats": env_int("HEALTH_HEAP_FALLING_HEARTBEATS", 5),  # consecutive drops
    "heap_falling_bytes": env_int("HEALTH_HEAP_FALLING_BYTES", 10 * 1024),  # ... adding up to this much
    "modbus_errors_growth": env_int("HEALTH_MODBUS_ERRORS_GROWTH", 3),  # new errors between heartbeats
    "sd_backlog_records": env_int("HEALTH_SD_BACKLOG_RECORDS", 500),  # queued and still growing
}
# Periodic jobs: name -> (task, seconds). Synced into django-celery-beat after migrate (editable in the
# admin afterwards) and run in-process by acuvim_console.scheduler in embedded mode.
PERIODIC_TASKS = {
    "devices: health sweep": ("devices.tasks.health_sweep", HEALTH_SWEEP_SECONDS),
    "devices: command timeouts": ("devices.tasks.command_timeouts", HEALTH_SWEEP_SECONDS),
}

# --- Telemetry storage (telemetry/) ---
# Retention per table, in days: raw readings, 5-minute and hourly rollups. On PostgreSQL a whole
# partition goes once all of it is older (readings: a day at a time; rollups: a week, 30 days).
TELEMETRY_RAW_RETENTION_DAYS = env_int("TELEMETRY_RAW_RETENTION_DAYS", 7)
TELEMETRY_5MIN_RETENTION_DAYS = env_int("TELEMETRY_5MIN_RETENTION_DAYS", 30)
TELEMETRY_HOURLY_RETENTION_DAYS = env_int("TELEMETRY_HOURLY_RETENTION_DAYS", 365)
# Partitions are created this many days ahead (plain PostgreSQL).
TELEMETRY_PARTITIONS_AHEAD_DAYS = env_int("TELEMETRY_PARTITIONS_AHEAD_DAYS", 3)
# Plain PostgreSQL: a day's partition has its key index rebuilt (compacted) this long after the day ends.
TELEMETRY_COMPACT_AFTER_HOURS = env_int("TELEMETRY_COMPACT_AFTER_HOURS", 2)
# TimescaleDB only: chunks of readings older than this are compressed.
TELEMETRY_COMPRESS_AFTER_DAYS = env_int("TELEMETRY_COMPRESS_AFTER_DAYS", 2)
# Rollups take in the committed batches in receive-time windows of this length, one transaction each.
TELEMETRY_ROLLUP_WINDOW_SECONDS = env_int("TELEMETRY_ROLLUP_WINDOW_SECONDS", 3600)
# How often the maintenance pass (partitions, rollups, compression, retention) runs.
TELEMETRY_MAINTENANCE_SECONDS = env_int("TELEMETRY_MAINTENANCE_SECONDS", 300)
# SQLite (embedded) deletes expired rows in batches of this many, one transaction each.
TELEMETRY_DELETE_BATCH = env_int("TELEMETRY_DELETE_BATCH", 5000)
PERIODIC_TASKS["telemetry: maintenance"] = ("telemetry.tasks.maintenance", TELEMETRY_MAINTENANCE_SECONDS)

# --- Firmware rollouts (firmware/) ---
# A device that has not confirmed the new version (heartbeat: new fw, ota valid) this long after its
# ota_update was sent is marked timed out; its command also expires then if it was never delivered.
FIRMWARE_OTA_DEVICE_TIMEOUT_SECONDS = env_int("FIRMWARE_OTA_DEVICE_TIMEOUT_SECONDS", 20 * 60)
# Signed download links (in ota_update commands and update checks) stay valid this long.
FIRMWARE_DOWNLOAD_URL_MAX_AGE_SECONDS = env_int("FIRMWARE_DOWNLOAD_URL_MAX_AGE_SECONDS", 24 * 3600)
FIRMWARE_ROLLOUT_ADVANCE_SECONDS = env_int("FIRMWARE_ROLLOUT_ADVANCE_SECONDS", 15)
PERIODIC_TASKS["firmware: advance rollouts"] = ("firmware.tasks.advance_rollouts", FIRMWARE_ROLLOUT_ADVANCE_SECONDS)

# --- Alert rules and notifications (alerts.rules, alerts.notifications) ---
# Each process re-reads the enabled rules this often (at once after a save in the same process).
ALERT_RULES_RELOAD_S = env_int("ALERT_RULES_RELOAD_S", 5)
# The periodic rule pass: durations of devices that report seldom, clear durations, escalation.
ALERT_RULES_PASS_SECONDS = env_int("ALERT_RULES_PASS_SECONDS", 5)
PERIODIC_TASKS["alerts: rule pass"] = ("alerts.tasks.rule_pass", ALERT_RULES_PASS_SECONDS)
# A rule's dry run replays this many days of stored readings, at most this many rows.
ALERT_RULE_DRY_RUN_DAYS = env_int("ALERT_RULE_DRY_RUN_DAYS", 7)
ALERT_RULE_DRY_RUN_MAX_ROWS = env_int("ALERT_RULE_DRY_RUN_MAX_ROWS", 200_000)
# Storm control: beyond the first NOTIFY_DIGEST_AFTER messages of a window, a channel gets at most one
# message (a digest) per NOTIFY_DIGEST_WINDOW_S; a digest names up to NOTIFY_DIGEST_MAX_LISTED alerts.
NOTIFY_DIGEST_WINDOW_S = env_int("NOTIFY_DIGEST_WINDOW_S", 60)
NOTIFY_DIGEST_AFTER = env_int("NOTIFY_DIGEST_AFTER", 3)
NOTIFY_DIGEST_MAX_LISTED = env_int("NOTIFY_DIGEST_MAX_LISTED", 50)
# A failed delivery is retried after NOTIFY_RETRY_BASE_S, then twice as long each time, NOTIFY_RETRY_MAX tries in all.
NOTIFY_RETRY_MAX = env_int("NOTIFY_RETRY_MAX", 5)
NOTIFY_RETRY_BASE_S = env_int("NOTIFY_RETRY_BASE_S", 30)
NOTIFY_SEND_TIMEOUT_S = env_int("NOTIFY_SEND_TIMEOUT_S", 10)
# The notification pass: digests whose window has passed, retries that are due, and (embedded) everything.
NOTIFY_SWEEP_SECONDS = env_int("NOTIFY_SWEEP_SECONDS", 5)
PERIODIC_TASKS["alerts: notifications"] = ("alerts.tasks.notification_sweep", NOTIFY_SWEEP_SECONDS)
# Email channels use Django's SMTP backend with these.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "acuvim-console@localhost")

# --- MQTT -------------------------------------------------------------------------------------
# Unset MQTT_URL means: runconsole starts its own broker on 127.0.0.1:MQTT_EMBEDDED_PORT, which is
# MQTT_EMBEDDED_BROKER: `auto` (Mosquitto where installed, durable, from deploy/mosquitto/, data in
# DATA_DIR/mosquitto; else amqtt in-process, not durable), `mosquitto` or `amqtt` (acuvim_console.bridge.embedded).
MQTT_URL = os.environ.get("MQTT_URL", "")
MQTT_EMBEDDED_PORT = env_int("MQTT_EMBEDDED_PORT", 1884)
MQTT_EMBEDDED_BROKER = os.environ.get("MQTT_EMBEDDED_BROKER", "auto")
# The embedded Mosquitto is the secured one (acuvim_console.bridge.embedded) where the dynamic-security plugin
# is installed: accounts only, TLS on MQTT_EMBEDDED_TLS_PORT. Off: anonymous, plain, for quick experiments.
MQTT_EMBEDDED_SECURE = env_bool("MQTT_EMBEDDED_SECURE", True)
MQTT_EMBEDDED_TLS_PORT = env_int("MQTT_EMBEDDED_TLS_PORT", 8884)
MQTT_TOPIC_PREFIX = os.environ.get("MQTT_TOPIC_PREFIX", "acuvim")
MQTT_CLIENT_ID = os.environ.get("MQTT_CLIENT_ID", "acuvim-console-bridge")
MQTT_SHARED_GROUP = os.environ.get("MQTT_SHARED_GROUP", "")  # set to split load between bridges
MQTT_MAX_PAYLOAD_BYTES = env_int("MQTT_MAX_PAYLOAD_BYTES", 16 * 1024)
DEVICE_ID_PATTERN = os.environ.get("DEVICE_ID_PATTERN", r"^ACV-[0-9A-F]{12}$")
DEVICE_AUTO_ACCEPT = env_bool("DEVICE_AUTO_ACCEPT", False)
CONSOLE_BASE_URL = os.environ.get("CONSOLE_BASE_URL", "http://127.0.0.1:8000")

# --- MQTT bridge (acuvim_console.bridge) ---
# Protocol spoken to the broker: "5" (Mosquitto; Receive Maximum and shared subscriptions) or "3.1.1".
# Empty: 5 for Mosquitto (MQTT_URL or embedded), 3.1.1 for the embedded amqtt broker, which drops MQTT v5.
MQTT_PROTOCOL = os.environ.get("MQTT_PROTOCOL", "")
MQTT_CA_FILE = os.environ.get("MQTT_CA_FILE", "")  # for mqtts://; the system CAs when empty
MQTT_KEEPALIVE_S = env_int("MQTT_KEEPALIVE_S", 30)
MQTT_SESSION_EXPIRY_S = env_int("MQTT_SESSION_EXPIRY_S", 14 * 24 * 3600)  # broker keeps our queue this long
MQTT_RECEIVE_MAXIMUM = env_int("MQTT_RECEIVE_MAXIMUM", 3000)  # unacknowledged messages the broker may send
MQTT_RECONNECT_MIN_S = env_int("MQTT_RECONNECT_MIN_S", 1)
MQTT_RECONNECT_MAX_S = env_int("MQTT_RECONNECT_MAX_S", 30)
# Telemetry is written in batches closed by size or age, and acknowledged after the commit.
MQTT_BATCH_SIZE = env_int("MQTT_BATCH_SIZE", 1000)
MQTT_BATCH_MAX_WAIT_MS = env_int("MQTT_BATCH_MAX_WAIT_MS", 100)
MQTT_QUEUE_SIZE = env_int("MQTT_QUEUE_SIZE", 5000)  # per queue; at least MQTT_RECEIVE_MAXIMUM (acuvim.W002)
MQTT_CONTROL_WORKERS = env_int("MQTT_CONTROL_WORKERS", 2)  # threads for register/status/heartbeat/alerts/resp
MQTT_MAX_FUTURE_SECONDS = env_int("MQTT_MAX_FUTURE_SECONDS", 24 * 3600)  # newer timestamps are refused
MQTT_METRICS_INTERVAL_S = env_int("MQTT_METRICS_INTERVAL_S", 30)
# A worker on one message (or the writer on one batch) longer than this is logged with its stack; 0: never.
MQTT_STALL_WARNING_S = env_int("MQTT_STALL_WARNING_S", 60)
# The bridge's Prometheus endpoint (docs/metrics.md): off at 0; on the loopback address unless told otherwise.
MQTT_METRICS_PORT = env_int("MQTT_METRICS_PORT", 0)
MQTT_METRICS_HOST = os.environ.get("MQTT_METRICS_HOST", "127.0.0.1")
# Shape limits checked before anything walks a payload (acuvim_console.protocol.payloads.check_shape).
MQTT_MAX_JSON_DEPTH = env_int("MQTT_MAX_JSON_DEPTH", 16)
MQTT_MAX_JSON_MEMBERS = env_int("MQTT_MAX_JSON_MEMBERS", 512)  # keys of an object or items of an array
MQTT_HANDLER_ATTEMPTS = env_int("MQTT_HANDLER_ATTEMPTS", 3)  # then a failing message is dead-lettered and acked
# Rejected messages (admin: Rejected messages), summed and written every few seconds, bounded and expired.
MQTT_DEAD_LETTER_FLUSH_S = env_int("MQTT_DEAD_LETTER_FLUSH_S", 2)
DEAD_LETTER_MAX_ROWS = env_int("DEAD_LETTER_MAX_ROWS", 10_000)
DEAD_LETTER_KEEP_DAYS = env_int("DEAD_LETTER_KEEP_DAYS", 7)
# --- Broker accounts (acuvim_console.core.broker_accounts, docs/deployment.md#broker-credentials) ---
# dynsec: provisioning, approval, rotation and decommissioning manage each device's client in Mosquitto's
# dynamic-security plugin, over MQTT_URL with the console's credentials; none: they only log a line.
MQTT_BROKER_ADMIN = os.environ.get("MQTT_BROKER_ADMIN", "none")
# The shared client factory-fresh gateways register with (publish devices/register/{id} only); `manage.py
# broker` creates it on first start when the password is set.
MQTT_PROVISIONING_USERNAME = os.environ.get("MQTT_PROVISIONING_USERNAME", "provisioning")
MQTT_PROVISIONING_PASSWORD = os.environ.get("MQTT_PROVISIONING_PASSWORD", "")
# The broker as gateways reach it (what provision_device prints for the captive portal); empty: MQTT_URL.
MQTT_PUBLIC_URL = os.environ.get("MQTT_PUBLIC_URL", "")

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "acuvim_console.operators.jwt.RevocableJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies are decoded within acuvim_console.core.json_limits' bounds (depth, keys, NUL, surrogates).
    "DEFAULT_PARSER_CLASSES": [
        "acuvim_console.core.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "acuvim_console.core.api.ordering.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "acuvim_console.core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "acuvim_console.core.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": os.environ.get("LOGIN_THROTTLE_RATE", "10/min")},
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=env_int("JWT_ACCESS_HOURS", 24)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,  # a refresh token works once
    "UPDATE_LAST_LOGIN": True,
    # Tokens carry the user's credential generation: a password change or deactivation revokes them all.
    "TOKEN_REFRESH_SERIALIZER": "acuvim_console.operators.jwt.RevocableRefreshSerializer",
}
# Swagger UI and ReDoc are self-hosted (drf-spectacular-sidecar) so the Content-Security-Policy
# (acuvim_console.security) can stay 'self' and the docs work offline.
SPECTACULAR_SETTINGS = {
    "TITLE": "Acuvim Console API",
    "DESCRIPTION": "Fleet management for ESP32 gateways reading Accuenergy Acuvim II meters.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
    # Device ids and firmware versions in paths (acuvim_console.core.url_converters.KeyConverter).
    "PATH_CONVERTER_OVERRIDES": {"key": {"type": "string", "minLength": 1, "maxLength": 64}},
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "DeviceStatusEnum": "devices.choices.DeviceStatus",
        "CommandStatusEnum": "devices.choices.CommandStatus",
        "RolloutStatusEnum": "firmware.models.RolloutStatus",
    },
}
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
# /health gives each dependency (database, broker, Redis) this long to answer.
HEALTH_CHECK_TIMEOUT_SECONDS = float(os.environ.get("HEALTH_CHECK_TIMEOUT_SECONDS", "2"))

# --- Security headers -------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (acuvim_console.security): everything the console serves comes from its own
# origin, the admin, the websocket pages and Swagger UI (vendored by drf-spectacular-sidecar, loaded by
# SpectacularSwaggerSplitView without inline scripts). So scripts are 'self' only; styles also allow inline
# attributes because the admin uses them; images and fonts allow data: URIs (Swagger UI icons); websocket
# pages connect to the same host over ws:/wss:.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HTTPS = env_bool("HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"level": "INFO"}, "amqtt": {"level": "WARNING"}, "transitions": {"level": "WARNING"}},
}

# --- Embedded mode (runconsole) -------------------------------------------------------------
# Started in this order by `manage.py runconsole`; see acuvim_console/embedded.py.
EMBEDDED_SERVICES: list[str] = [
    "acuvim_console.scheduler.start",  # periodic jobs, when there is no Redis for Celery
    "acuvim_console.bridge.embedded.start_broker",  # Mosquitto or amqtt, when MQTT_URL is unset
    "acuvim_console.bridge.embedded.start_bridge",  # the MQTT bridge
    "acuvim_console.demo_fleet.start",  # DEMO_DEVICES=N simulated gateways
]
RUNCONSOLE_HOST = os.environ.get("RUNCONSOLE_HOST", "127.0.0.1")
RUNCONSOLE_PORT = env_int("RUNCONSOLE_PORT", 8000)

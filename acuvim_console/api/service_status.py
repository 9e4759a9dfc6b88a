"""`GET /health`: can this web process reach what it needs? For load balancers and orchestrators.

Each dependency is checked for real (a query, a TCP connect to the broker, a Redis PING) with a short
timeout, so a dead dependency answers 503 within seconds instead of hanging the probe.
"""

import logging
import socket
import time

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from acuvim_console.core.mqtt_connection import broker_address

log = logging.getLogger(__name__)


def check_database(timeout: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker(timeout: float) -> None:
    address = broker_address()  # MQTT_URL, or the embedded broker runconsole starts when it is unset
    with socket.create_connection((address.host, address.port), timeout=timeout):
        pass


def check_redis(timeout: float) -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def run_checks() -> dict[str, dict]:
    checks = {"database": check_database, "broker": check_broker}
    if settings.REDIS_URL:
        checks["redis"] = check_redis
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    results = {}
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check(timeout)
        except Exception as error:  # any failure is the answer we are here to give
            log.warning("health: %s unreachable: %s", name, error)
            results[name] = {"ok": False, "error": type(error).__name__}
        else:
            results[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return results


CheckSerializer = inline_serializer(
    "HealthCheck",
    {
        "ok": serializers.BooleanField(),
        "ms": serializers.FloatField(required=False),
        "error": serializers.CharField(required=False),
    },
)
HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "checks": serializers.DictField(child=CheckSerializer),
    },
)


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["health"],
        summary="Reachability of the database, the MQTT broker and Redis (no authentication)",
        responses={200: HealthSerializer, 503: HealthSerializer},
    )
    def get(self, request):
        checks = run_checks()
        healthy = all(result["ok"] for result in checks.values())
        return Response(
            {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
        )

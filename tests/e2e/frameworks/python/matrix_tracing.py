"""OpenTelemetry SDK setup shared by the Python matrix apps, configured only from the standard env.

Each app calls `setup_tracing()` before it instruments its framework. The resource comes from
`OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` (`Resource.create()` reads both); the exporter
is the official OTLP one for `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or `http/protobuf`), which reads
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` itself; `OTEL_BSP_SCHEDULE_DELAY` is read by the batch
processor. Header capture (`OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST`) is read by
the framework instrumentations, so nothing here depends on the matrix mode.

The provider is shut down explicitly (not by atexit) when the app's server returns, which is how
the apps meet the contract "on SIGTERM: flush, then exit 0 within 10 s".
"""

from __future__ import annotations

import os
import signal

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

VALID_TOKEN_PREFIX = "valid-"
# Ids from here up name no object: the views answer 404 (drive.py sends such ids to "not_found" routes).
MISSING_IDS = 100000


def setup_tracing() -> TracerProvider:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        raise SystemExit(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: expected grpc or http/protobuf")
    provider = TracerProvider(resource=Resource.create(), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so the serve loop unwinds and the app flushes."""


def exit_on_sigterm() -> None:
    """SIGTERM unwinds the main thread (its serve loop) with `Terminated`; the app catches it,
    shuts the tracer provider down (flushing the last batch) and exits 0. uvicorn restores this
    handler after its own graceful shutdown and re-raises the signal, which lands here too."""

    def handler(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, handler)


def token_is_valid(authorization: str | None) -> bool:
    """The matrix's whole credential check: `Bearer valid-<anything>`."""
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and token.startswith(VALID_TOKEN_PREFIX)


def port() -> int:
    try:
        return int(os.environ["PORT"])
    except (KeyError, ValueError):
        raise SystemExit("PORT must be set to the TCP port to listen on (127.0.0.1)")

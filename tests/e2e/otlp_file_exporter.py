"""A SpanExporter that writes what the OpenTelemetry Collector's `file` exporter writes.

One `ExportTraceServiceRequest` per line, OTLP/JSON as the OTLP spec defines it: camelCase
field names, trace/span ids as lowercase hex (not protobuf-JSON's base64), enums as integers,
64-bit integers as decimal strings, zero values omitted. The request itself is built by the SDK's
own OTLP encoder (`encode_spans` from opentelemetry-exporter-otlp-proto-common), so the bytes on
the wire of the real OTLP exporters and the lines in our fixtures come from the same code.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import IO, Sequence

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

# Fields that are `bytes` in the OTLP protos and hex strings in OTLP/JSON.
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def _fix_ids(obj):
    """protobuf's json_format renders bytes as base64; OTLP/JSON wants hex ids."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in _ID_FIELDS and isinstance(value, str):
                obj[key] = _b64_to_hex(value)
            else:
                _fix_ids(value)
    elif isinstance(obj, list):
        for item in obj:
            _fix_ids(item)
    return obj


def request_to_otlp_json(request) -> dict:
    """ExportTraceServiceRequest (protobuf message) → OTLP/JSON dict."""
    as_dict = json_format.MessageToDict(
        request,
        preserving_proto_field_name=False,  # camelCase, as OTLP/JSON requires
        use_integers_for_enums=True,  # kind: 2, status.code: 2
    )
    return _fix_ids(as_dict)


class OtlpJsonLinesExporter(SpanExporter):
    """Appends one OTLP/JSON ExportTraceServiceRequest line per export call."""

    def __init__(self, out: IO[str]):
        self._out = out
        self._lock = threading.Lock()
        self.exported_spans = 0
        self.exported_requests = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        request = encode_spans(spans)
        line = json.dumps(request_to_otlp_json(request), separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()
            self.exported_spans += len(spans)
            self.exported_requests += 1
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._out.flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

#!/usr/bin/env python3
"""Convert collector file-exporter OTLP/JSON lines into length-delimited OTLP protobuf.

Each input line (one ExportTraceServiceRequest) becomes one message in the output, prefixed
by its length as a protobuf varint (the layout of protobuf's writeDelimitedTo), so the demo
can replay the same export requests, batch by batch, through the gRPC receiver.

Usage: jsonl_to_pb.py IN.jsonl OUT.pbd
"""
import base64, json, sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def hex_ids_to_base64(node):
    # OTLP/JSON writes ids as hex; the protobuf JSON mapping expects base64 for bytes.
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                node[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                hex_ids_to_base64(v)
    elif isinstance(node, list):
        for v in node:
            hex_ids_to_base64(v)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f, open(dst, "wb") as out:
        for line in f:
            if not line.strip():
                continue
            doc = json.loads(line)
            hex_ids_to_base64(doc)
            msg = json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=True)
            data = msg.SerializeToString()
            out.write(varint(len(data)) + data)


if __name__ == "__main__":
    main()

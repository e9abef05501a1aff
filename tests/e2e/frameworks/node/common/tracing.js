'use strict';
/*
 * OpenTelemetry setup shared by the Node apps of the framework matrix: the official Node SDK
 * (@opentelemetry/sdk-node) exporting over OTLP, configured by the standard environment variables
 * the runner sets (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_PROTOCOL,
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_BSP_SCHEDULE_DELAY), with the HTTP server
 * instrumentation plus whatever framework instrumentation the app passes in.
 *
 * SHADOWSCAN_MATRIX_MODE=headers switches on the capture of the Authorization request header the
 * way @opentelemetry/instrumentation-http documents it (`headersToSpanAttributes`), which records
 * it as `http.request.header.authorization`.
 *
 * Must run before the web framework is required: the instrumentations hook `require`.
 */

const fs = require('fs');
const { NodeSDK, tracing } = require('@opentelemetry/sdk-node');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

function mode() {
  const m = process.env.SHADOWSCAN_MATRIX_MODE || 'vanilla';
  if (m !== 'vanilla' && m !== 'headers') {
    throw new Error(`SHADOWSCAN_MATRIX_MODE must be vanilla or headers, not ${JSON.stringify(m)}`);
  }
  return m;
}

function traceExporter() {
  const protocol =
    process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || process.env.OTEL_EXPORTER_OTLP_PROTOCOL || 'grpc';
  // Both exporters read OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (or OTEL_EXPORTER_OTLP_ENDPOINT) themselves.
  if (protocol === 'grpc') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
    return new OTLPTraceExporter();
  }
  if (protocol === 'http/protobuf') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
    return new OTLPTraceExporter();
  }
  throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf, not ${JSON.stringify(protocol)}`);
}

/**
 * SHADOWSCAN_MATRIX_DEBUG_SPANS=FILE: every span also goes to FILE, one JSON object a line (name,
 * kind, ids, attributes), to see what an instrumentation emits without an OTLP decoder.
 */
class JsonLinesSpanExporter {
  constructor(file) {
    this.fd = fs.openSync(file, 'a');
  }
  export(spans, done) {
    for (const s of spans) {
      const ctx = s.spanContext();
      const line = {
        name: s.name,
        kind: s.kind,
        trace: ctx.traceId,
        span: ctx.spanId,
        parent: s.parentSpanContext ? s.parentSpanContext.spanId : undefined,
        scope: s.instrumentationScope && s.instrumentationScope.name,
        attributes: s.attributes,
      };
      fs.writeSync(this.fd, JSON.stringify(line) + '\n');
    }
    done({ code: 0 });
  }
  shutdown() {
    fs.closeSync(this.fd);
    return Promise.resolve();
  }
  forceFlush() {
    return Promise.resolve();
  }
}

/**
 * Starts the SDK with the HTTP instrumentation and `frameworkInstrumentations`; returns
 * `{ sdk, httpInstrumentation, onShutdown(fn) }`. SIGTERM/SIGINT run the `onShutdown` callbacks
 * (closing the server), flush and shut the SDK down, then exit 0.
 */
function startTracing(frameworkInstrumentations = []) {
  // Traces only: no metrics or logs pipelines the matrix does not read.
  process.env.OTEL_METRICS_EXPORTER = process.env.OTEL_METRICS_EXPORTER || 'none';
  process.env.OTEL_LOGS_EXPORTER = process.env.OTEL_LOGS_EXPORTER || 'none';
  const httpConfig = {
    // The apps make no outgoing requests worth tracing.
    disableOutgoingRequestInstrumentation: true,
  };
  if (mode() === 'headers') {
    httpConfig.headersToSpanAttributes = { server: { requestHeaders: ['authorization'] } };
  }
  const httpInstrumentation = new HttpInstrumentation(httpConfig);
  // BatchSpanProcessor reads OTEL_BSP_SCHEDULE_DELAY and the other OTEL_BSP_* variables.
  const spanProcessors = [new tracing.BatchSpanProcessor(traceExporter())];
  if (process.env.SHADOWSCAN_MATRIX_DEBUG_SPANS) {
    spanProcessors.push(new tracing.SimpleSpanProcessor(new JsonLinesSpanExporter(process.env.SHADOWSCAN_MATRIX_DEBUG_SPANS)));
  }
  const sdk = new NodeSDK({
    spanProcessors,
    instrumentations: [httpInstrumentation, ...frameworkInstrumentations],
  });
  sdk.start();

  const closers = [];
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    const hardStop = setTimeout(() => {
      process.stderr.write(`${signal}: shutdown took more than 8 s, exiting\n`);
      process.exit(0);
    }, 8000);
    hardStop.unref();
    for (const close of closers) {
      try {
        await close();
      } catch (err) {
        process.stderr.write(`closing the server failed: ${err}\n`);
      }
    }
    try {
      await sdk.shutdown();
    } catch (err) {
      process.stderr.write(`OpenTelemetry SDK shutdown failed: ${err}\n`);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return { sdk, httpInstrumentation, onShutdown: (fn) => closers.push(fn) };
}

/** Closes a node http.Server without waiting for idle keep-alive connections. */
function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    if (server.closeIdleConnections) server.closeIdleConnections();
    setTimeout(resolve, 1000).unref();
  });
}

/** `--write-spec OUT` on the command line: the app writes its spec to OUT instead of serving. */
function specTarget(argv = process.argv) {
  const i = argv.indexOf('--write-spec');
  if (i < 0) return null;
  if (i + 1 >= argv.length) throw new Error('--write-spec needs an output file');
  return argv[i + 1];
}

function port() {
  const p = Number(process.env.PORT || 0);
  if (!Number.isInteger(p) || p <= 0 || p > 65535) {
    throw new Error(`PORT must be a TCP port number, not ${JSON.stringify(process.env.PORT)}`);
  }
  return p;
}

module.exports = { startTracing, closeServer, specTarget, port, mode };

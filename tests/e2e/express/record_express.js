#!/usr/bin/env node
'use strict';
/*
 * Records fixtures/express4.jsonl and fixtures/express5.jsonl from real Express apps under the
 * real OpenTelemetry Node SDK (@opentelemetry/sdk-trace-node + instrumentation-http +
 * instrumentation-express), one OTLP/JSON ExportTraceServiceRequest per line, serialised by
 * @opentelemetry/otlp-transformer's JsonTraceSerializer (what the OTLP/HTTP JSON exporter sends).
 *
 *   node tests/e2e/express/record_express.js --express 4 --out fixtures/express4.jsonl \
 *        --expected fixtures/express4-expected.json
 *   node tests/e2e/express/record_express.js --express 5 --out fixtures/express5.jsonl \
 *        --expected fixtures/express5-expected.json
 *   node tests/e2e/express/record_express.js --express 4 --http-instrumentation 0.220 \
 *        --out fixtures/express4-oldsemconv.jsonl
 *
 * instrumentation-http 0.223 emits only the stable HTTP conventions; 0.220 (installed as the
 * alias `instrumentation-http-0220`) still emits the old ones by default (`http.target`,
 * `http.url`, `http.status_code`, `net.peer.ip`, ...), as many deployed services do.
 *
 * Express 4: auth is app-level middleware (`app.use(requireAuth)`) placed after the public
 * routes. Express 5: auth is route-level (`admin.get('/stats', requireAuth, handler)`), with
 * routers mounted at `/admin` and `/api/v1`. Both get rejected requests (401/403), scanner
 * probes, trailing slashes, queries, percent-encoding and a forgotten unauthenticated route.
 *
 * Express 4 and 5 are installed side by side as the npm aliases `express4` and `express5`.
 * The instrumentation's require hook only recognises a package installed as `express`, so the
 * script hands the aliased module to the instrumentation's own module definition (`patch`), the
 * same function the hook would have called.
 */

const fs = require('fs');
const http = require('http');
const path = require('path');

function parseArgs(argv) {
  const args = { express: '5', out: null, expected: null, httpInstrumentation: 'current' };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--express') args.express = next();
    else if (a === '--out') args.out = next();
    else if (a === '--expected') args.expected = next();
    else if (a === '--http-instrumentation') args.httpInstrumentation = next();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!['4', '5'].includes(args.express)) throw new Error('--express must be 4 or 5');
  if (!args.out) throw new Error('--out FILE is required');
  if (!['current', '0.220'].includes(args.httpInstrumentation)) {
    throw new Error('--http-instrumentation must be current or 0.220');
  }
  return args;
}

const args = parseArgs(process.argv);

const { ExportResultCode } = require('@opentelemetry/core');
const { JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { NodeTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require(args.httpInstrumentation === '0.220'
  ? 'instrumentation-http-0220'
  : '@opentelemetry/instrumentation-http');
const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');

/** Writes what the collector's file exporter writes: one ExportTraceServiceRequest per line. */
class OtlpJsonLinesExporter {
  constructor(file) {
    this.fd = fs.openSync(file, 'w');
    this.spans = 0;
    this.requests = 0;
  }
  export(spans, resultCallback) {
    try {
      const body = JsonTraceSerializer.serializeRequest(spans);
      fs.writeSync(this.fd, Buffer.concat([Buffer.from(body), Buffer.from('\n')]));
      this.spans += spans.length;
      this.requests += 1;
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      resultCallback({ code: ExportResultCode.FAILED, error });
    }
  }
  forceFlush() {
    return Promise.resolve();
  }
  shutdown() {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    return Promise.resolve();
  }
}

const SERVICE = `shop-api-express${args.express}`;
const exporter = new OtlpJsonLinesExporter(args.out);
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({
    'service.name': SERVICE,
    'service.namespace': 'shop',
    'service.version': '2.0.1',
    'deployment.environment.name': 'staging',
  }),
  spanProcessors: [
    new BatchSpanProcessor(exporter, { scheduledDelayMillis: 60000, maxExportBatchSize: 64 }),
  ],
});
provider.register();

const expressInstrumentation = new ExpressInstrumentation();
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [
    new HttpInstrumentation({
      // The driver below uses node's http client too; its CLIENT spans are not what we record.
      disableOutgoingRequestInstrumentation: true,
      // Node's SDK captures header VALUES verbatim (no redaction): the fixture therefore holds
      // fake bearer tokens that shadowscan must never store.
      headersToSpanAttributes: { server: { requestHeaders: ['authorization', 'x-api-key'] } },
    }),
    expressInstrumentation,
  ],
});

const express = require(`express${args.express}`);
const expressVersion = require(`express${args.express}/package.json`).version;
for (const def of expressInstrumentation.getModuleDefinitions()) {
  if (def.name === 'express' && def.patch) def.patch(express, expressVersion);
}

const TOKENS = {
  'tok-alice-7f3a': { user: 'alice', role: 'customer' },
  'tok-bob-19c2': { user: 'bob', role: 'customer' },
  'tok-root-a1b2': { user: 'root', role: 'admin' },
};

// Named functions: the instrumentation names middleware spans after them.
function requireAuth(req, res, next) {
  const header = req.get('authorization') || '';
  const principal = header.startsWith('Bearer ') ? TOKENS[header.slice(7)] : undefined;
  if (!principal) {
    res.locals.authOutcome = 'rejected';
    return res.status(401).json({ error: 'unauthorized' });
  }
  res.locals.authOutcome = 'accepted';
  req.user = principal;
  return next();
}

function requireAdmin(req, res, next) {
  if (!req.user || req.user.role !== 'admin') {
    return res.status(403).json({ error: 'forbidden' });
  }
  return next();
}

function buildExpress4App() {
  const app = express();
  app.use(express.json());
  app.get('/healthz', (req, res) => res.json({ status: 'ok' }));
  app.post('/login', (req, res) => {
    const ok = req.body && req.body.password === 'correct horse';
    return ok ? res.json({ token: 'tok-alice-7f3a' }) : res.status(401).json({ error: 'bad credentials' });
  });
  // Registered before the auth middleware, so it is public: the leak shadowscan should flag.
  app.get('/internal/debug/config', (req, res) => res.json({ db: 'postgres://…', flags: {} }));

  app.use(requireAuth);

  const users = express.Router();
  users.get('/:userId', (req, res) => res.json({ id: req.params.userId }));
  // A BatchSpanProcessor's timer can fire mid-request, exporting the middleware spans before
  // their server span: make that happen here so the fixture has such split traces.
  users.get('/:userId/orders/:orderId', (req, res, next) => {
    provider.forceFlush().then(() => res.json({ user: req.params.userId, order: req.params.orderId }), next);
  });
  app.use('/api/v1/users', users);

  app.get('/orders/:orderId(\\d+)', (req, res) => res.json({ id: Number(req.params.orderId) }));
  app.get('/files/*', (req, res) => res.json({ path: req.params[0] }));

  const admin = express.Router();
  admin.use(requireAdmin);
  admin.get('/stats', (req, res) => res.json({ users: 3 }));
  admin.post('/users/:userId/disable', (req, res) => res.status(204).end());
  app.use('/admin', admin);
  return app;
}

function buildExpress5App() {
  const app = express();
  app.use(express.json());
  app.get('/healthz', (req, res) => res.json({ status: 'ok' }));
  app.post('/login', (req, res) => {
    const ok = req.body && req.body.password === 'correct horse';
    return ok ? res.json({ token: 'tok-alice-7f3a' }) : res.status(401).json({ error: 'bad credentials' });
  });

  const v1 = express.Router();
  v1.get('/users/:userId', requireAuth, (req, res) => res.json({ id: req.params.userId }));
  v1.get('/users/:userId/orders/:orderId', requireAuth, async (req, res) => {
    await provider.forceFlush(); // split the trace over two export requests, as in express 4
    res.json({ user: req.params.userId, order: req.params.orderId });
  });
  v1.get('/products', (req, res) => res.json({ page: Number(req.query.page || 1), items: [] }));
  v1.get('/products/:sku', (req, res) => res.json({ sku: req.params.sku }));
  app.use('/api/v1', v1);

  const admin = express.Router();
  admin.get('/stats', requireAuth, requireAdmin, (req, res) => res.json({ users: 3 }));
  admin.post('/users/:userId/disable', requireAuth, requireAdmin, (req, res) => res.status(204).end());
  // Forgot requireAuth: the unauthenticated admin export shadowscan should flag.
  admin.get('/export', (req, res) => res.json({ rows: 1024 }));
  app.use('/admin', admin);

  app.get('/files/*filepath', requireAuth, (req, res) => res.json({ path: req.params.filepath.join('/') }));

  // Router-level auth, as in the Express 4 admin router: rejections happen before any route.
  const reports = express.Router();
  reports.use(requireAuth);
  reports.get('/:reportId', (req, res) => res.json({ id: req.params.reportId }));
  app.use('/reports', reports);
  return app;
}

const ALICE = { authorization: 'Bearer tok-alice-7f3a' };
const BOB = { authorization: 'Bearer tok-bob-19c2' };
const ROOT = { authorization: 'Bearer tok-root-a1b2' };
const EXPIRED = { authorization: 'Bearer tok-expired-0000' };
const SCANNER = { 'user-agent': 'Mozilla/5.0 zgrab/0.x' };

// [method, raw path, headers, body, expected status, template the app serves it with (null: no
// route matched)]. Templates are written from the app code above, in `{name}` form.
const SCANNER_PROBES = [
  ['GET', '/.env', SCANNER, null, 404, null],
  ['GET', '/wp-login.php', SCANNER, null, 404, null],
  ['POST', '/wp-login.php', SCANNER, {}, 404, null],
  ['GET', '/.git/config', SCANNER, null, 404, null],
  ['GET', '/actuator/env', SCANNER, null, 404, null],
];

const TRAFFIC = {
  4: [
    ['GET', '/healthz', {}, null, 200, '/healthz'],
    ['GET', '/healthz', {}, null, 200, '/healthz'],
    ['POST', '/login', {}, { username: 'alice', password: 'correct horse' }, 200, '/login'],
    ['POST', '/login', {}, { username: 'alice', password: 'hunter2' }, 401, '/login'],
    ['GET', '/internal/debug/config', {}, null, 200, '/internal/debug/config'],
    ['GET', '/internal/debug/config?verbose=1', {}, null, 200, '/internal/debug/config'],
    ['GET', '/api/v1/users/42', ALICE, null, 200, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/7', BOB, null, 200, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/1337?expand=orders', ALICE, null, 200, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/42/', ALICE, null, 200, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/42', {}, null, 401, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/42', EXPIRED, null, 401, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/42/orders/9001', ALICE, null, 200, '/api/v1/users/{userId}/orders/{orderId}'],
    ['GET', '/api/v1/users/j%C3%B6rg/orders/9002', BOB, null, 200, '/api/v1/users/{userId}/orders/{orderId}'],
    ['GET', '/orders/9001', ALICE, null, 200, '/orders/{orderId}'],
    ['GET', '/orders/9002', BOB, null, 200, '/orders/{orderId}'],
    ['GET', '/files/reports/2024/q1.pdf', ALICE, null, 200, '/files/{0}'],
    ['GET', '/files/avatar.png', BOB, null, 200, '/files/{0}'],
    ['GET', '/admin/stats', ROOT, null, 200, '/admin/stats'],
    ['GET', '/admin/stats', ALICE, null, 403, '/admin/stats'],
    ['GET', '/admin/stats', {}, null, 401, '/admin/stats'],
    ['POST', '/admin/users/7/disable', ROOT, {}, 204, '/admin/users/{userId}/disable'],
    ['POST', '/admin/users/8/disable', BOB, {}, 403, '/admin/users/{userId}/disable'],
    // Unmatched paths still pass the app-level auth middleware first: an anonymous scanner gets
    // 401, an authenticated client 404. Neither is an endpoint.
    ['GET', '/orders/not-a-number', ALICE, null, 404, null],
    ...SCANNER_PROBES.map(([m, p, h, b]) => [m, p, h, b, 401, null]),
  ],
  5: [
    ['GET', '/healthz', {}, null, 200, '/healthz'],
    ['GET', '/healthz', {}, null, 200, '/healthz'],
    ['POST', '/login', {}, { username: 'alice', password: 'correct horse' }, 200, '/login'],
    ['POST', '/login', {}, { username: 'alice', password: 'hunter2' }, 401, '/login'],
    ['GET', '/api/v1/users/42', ALICE, null, 200, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/7', BOB, null, 200, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/1337?expand=orders', ALICE, null, 200, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/42/', ALICE, null, 200, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/42', {}, null, 401, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/42', EXPIRED, null, 401, '/api/v1/users/{userId}'],
    ['GET', '/api/v1/users/42/orders/9001', ALICE, null, 200, '/api/v1/users/{userId}/orders/{orderId}'],
    ['GET', '/api/v1/users/j%C3%B6rg/orders/9002', BOB, null, 200, '/api/v1/users/{userId}/orders/{orderId}'],
    ['GET', '/api/v1/products', {}, null, 200, '/api/v1/products'],
    ['GET', '/api/v1/products?page=2&sort=price', {}, null, 200, '/api/v1/products'],
    ['GET', '/api/v1/products/SKU-1042-BLU', {}, null, 200, '/api/v1/products/{sku}'],
    ['GET', '/api/v1/products/blue-widget', {}, null, 200, '/api/v1/products/{sku}'],
    ['GET', '/admin/stats', ROOT, null, 200, '/admin/stats'],
    ['GET', '/admin/stats', ALICE, null, 403, '/admin/stats'],
    ['GET', '/admin/stats', {}, null, 401, '/admin/stats'],
    ['GET', '/admin/stats', EXPIRED, null, 401, '/admin/stats'],
    ['POST', '/admin/users/7/disable', ROOT, {}, 204, '/admin/users/{userId}/disable'],
    ['POST', '/admin/users/8/disable', BOB, {}, 403, '/admin/users/{userId}/disable'],
    ['GET', '/admin/export', {}, null, 200, '/admin/export'],
    ['GET', '/admin/export?format=csv', {}, null, 200, '/admin/export'],
    ['GET', '/files/reports/2024/q1.pdf', ALICE, null, 200, '/files/{filepath}'],
    ['GET', '/files/avatar.png', BOB, null, 200, '/files/{filepath}'],
    ['GET', '/files/avatar.png', {}, null, 401, '/files/{filepath}'],
    ['GET', '/reports/2024', ALICE, null, 200, '/reports/{reportId}'],
    ['GET', '/reports/2025', BOB, null, 200, '/reports/{reportId}'],
    ['GET', '/reports/2024', {}, null, 401, '/reports/{reportId}'],
    ['DELETE', '/healthz', {}, null, 404, null],
    ...SCANNER_PROBES,
  ],
};

// The route each template is declared with in the app code, full path (mount path + route).
const DECLARED_ROUTES = {
  4: {
    '/files/{0}': '/files/*',
    '/orders/{orderId}': '/orders/:orderId(\\d+)',
  },
  5: {
    '/files/{filepath}': '/files/*filepath',
  },
};

function declaredRoute(template) {
  const special = DECLARED_ROUTES[args.express][template];
  return special || template.replace(/\{([^}]+)\}/g, ':$1');
}

const FLUSH_EVERY = 8;

function send(port, method, rawPath, headers, body) {
  return new Promise((resolve, reject) => {
    const payload = body === null ? null : Buffer.from(JSON.stringify(body));
    const hdrs = { 'user-agent': 'shop-web/2.3 node-http', ...headers };
    if (payload) {
      hdrs['content-type'] = 'application/json';
      hdrs['content-length'] = payload.length;
    }
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers: hdrs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

function summarise(truth) {
  const endpoints = new Map();
  const unmatched = [];
  for (const t of truth) {
    if (t.template === null) {
      unmatched.push({ method: t.method, path: t.path, status: t.status });
      continue;
    }
    const key = `${t.method} ${t.template}`;
    if (!endpoints.has(key)) {
      endpoints.set(key, {
        method: t.method, route: declaredRoute(t.template), template: t.template, requests: 0, status: {},
        successes_with_auth_evidence: 0, successes_without_auth_evidence: 0,
        auth_evidence: new Set(), example_paths: [],
      });
    }
    const e = endpoints.get(key);
    e.requests += 1;
    e.status[t.status] = (e.status[t.status] || 0) + 1;
    const evidence = [];
    if (t.authMiddlewareRan) evidence.push('auth_middleware');
    if (t.credentialHeader) evidence.push('credential_header');
    if (t.status === 401 || t.status === 403) evidence.push(`status_${t.status}`);
    evidence.forEach((x) => e.auth_evidence.add(x));
    if (t.status < 400) {
      if (t.authMiddlewareRan || t.credentialHeader) e.successes_with_auth_evidence += 1;
      else e.successes_without_auth_evidence += 1;
    }
    if (!e.example_paths.includes(t.path) && e.example_paths.length < 3) e.example_paths.push(t.path);
  }
  const list = [...endpoints.values()]
    .sort((a, b) => (a.template + a.method < b.template + b.method ? -1 : 1))
    .map((e) => ({ ...e, auth_evidence: [...e.auth_evidence].sort() }));
  return { service: SERVICE, express: expressVersion, endpoints: list, unmatched_requests: unmatched };
}

async function main() {
  const app = args.express === '4' ? buildExpress4App() : buildExpress5App();
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = server.address().port;
  const truth = [];
  const failures = [];
  const plan = TRAFFIC[args.express];
  for (let i = 0; i < plan.length; i++) {
    const [method, rawPath, headers, body, expected, template] = plan[i];
    const status = await send(port, method, rawPath, headers, body);
    if (status !== expected) failures.push(`${method} ${rawPath}: got ${status}, expected ${expected}`);
    truth.push({
      method,
      path: rawPath.split('?')[0],
      status,
      template,
      // requireAuth runs for every request in Express 4 (app-level) and for the routes that
      // list it in Express 5; the truth records what the app code says, per request.
      authMiddlewareRan: args.express === '4'
        ? !['/healthz', '/login', '/internal/debug/config'].includes(template)
        : ['/api/v1/users/{userId}', '/api/v1/users/{userId}/orders/{orderId}', '/admin/stats',
          '/admin/users/{userId}/disable', '/files/{filepath}', '/reports/{reportId}'].includes(template),
      credentialHeader: 'authorization' in headers || 'x-api-key' in headers,
    });
    if ((i + 1) % FLUSH_EVERY === 0) await provider.forceFlush();
  }
  await new Promise((resolve) => server.close(resolve));
  await provider.forceFlush();
  await provider.shutdown();
  if (failures.length) {
    failures.forEach((f) => console.error(`record_express: ${f}`));
    process.exit(1);
  }
  if (args.expected) {
    fs.writeFileSync(args.expected, `${JSON.stringify(summarise(truth), null, 2)}\n`);
  }
  console.error(`record_express: express ${expressVersion}, ${plan.length} requests, ${exporter.spans} spans in ` +
    `${exporter.requests} export requests -> ${path.relative(process.cwd(), args.out)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

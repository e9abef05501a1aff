#!/usr/bin/env node
'use strict';
/*
 * Matrix app: Fastify 5 under @opentelemetry/instrumentation-http and @fastify/otel (Fastify's
 * official instrumentation); spec from @fastify/swagger, hidden routes with `schema.hide`. Secured
 * routes authenticate in an `onRequest` hook named `authenticate`.
 *   node app.js                      serve on 127.0.0.1:$PORT
 *   node app.js --write-spec OUT     write the OpenAPI document to OUT
 */

const fs = require('fs');
const { startTracing, closeServer, specTarget, port } = require('../common/tracing');
const { shop, principal, UNAUTHORIZED, NOT_FOUND } = require('../common/shop');

const out = specTarget();
let tracing = null;
if (!out) {
  const { FastifyOtelInstrumentation } = require('@fastify/otel');
  // registerOnInitialization: the plugin registers itself on every Fastify instance created.
  tracing = startTracing([new FastifyOtelInstrumentation({ registerOnInitialization: true })]);
}

const Fastify = require('fastify');

async function authenticate(request, reply) {
  const who = principal(request.headers.authorization);
  if (!who) {
    reply.code(401).send(UNAUTHORIZED);
    return reply;
  }
  request.user = who;
}

const secured = { security: [{ bearerAuth: [] }] };
const idParam = { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] };
const slugParam = { type: 'object', properties: { slug: { type: 'string' } }, required: ['slug'] };
const userParam = { type: 'object', properties: { username: { type: 'string' } }, required: ['username'] };

async function build() {
  const app = Fastify({ logger: false });
  await app.register(require('@fastify/swagger'), {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Shop API (Fastify)', version: require('fastify/package.json').version },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
  });

  app.get('/health', { schema: { summary: 'Liveness probe' } }, async function health() {
    return shop.health();
  });
  app.post('/api/auth/login', { schema: { summary: 'Exchange credentials for a token' } }, async function login() {
    return shop.login();
  });
  app.post('/api/auth/logout', { onRequest: authenticate, schema: { summary: 'Revoke the token', ...secured } },
    async function logout() {
      return shop.logout();
    });

  app.get('/api/products', { schema: { summary: 'The public catalog' } }, async function listProducts() {
    return shop.listProducts();
  });
  app.get('/api/products/:id', { schema: { summary: 'One product', params: idParam } }, async function getProduct(req, reply) {
    const found = shop.getProduct(req.params.id);
    if (found === null) return reply.code(404).send(NOT_FOUND);
    return found;
  });
  app.post('/api/products/:id/reviews', { onRequest: authenticate, schema: { summary: 'Review a product', params: idParam, ...secured } },
    async function addReview(req, reply) {
      reply.code(201);
      return shop.addReview(req.params.id);
    });
  app.get('/api/categories/:slug/products', { schema: { summary: 'Products of a category', params: slugParam } },
    async function categoryProducts(req) {
      return shop.categoryProducts(req.params.slug);
    });
  app.get('/api/promotions/:slug', { schema: { summary: 'A promotion', params: slugParam } }, async function promotion(req) {
    return shop.promotion(req.params.slug);
  });

  app.get('/api/users/:username', { schema: { summary: 'A public profile', params: userParam } }, async function publicProfile(req) {
    return shop.publicProfile(req.params.username);
  });
  app.put('/api/users/:username/profile', { onRequest: authenticate, schema: { summary: "Update one's profile", params: userParam, ...secured } },
    async function updateProfile(req) {
      return shop.updateProfile(req.params.username, req.body);
    });
  app.get('/api/users/:username/orders', { onRequest: authenticate, schema: { summary: "A user's orders", params: userParam, ...secured } },
    async function userOrders(req) {
      return shop.userOrders(req.params.username);
    });
  app.get('/api/users/:username/orders/:id', {
    onRequest: authenticate,
    schema: {
      summary: "One of a user's orders",
      params: { type: 'object', properties: { username: { type: 'string' }, id: { type: 'integer' } }, required: ['username', 'id'] },
      ...secured,
    },
  }, async function userOrder(req) {
    return shop.userOrder(req.params.username, req.params.id);
  });

  app.post('/api/orders', { onRequest: authenticate, schema: { summary: 'Place an order', ...secured } }, async function createOrder(req, reply) {
    reply.code(201);
    return shop.createOrder();
  });
  app.get('/api/orders/:id', { onRequest: authenticate, schema: { summary: 'One order', params: idParam, ...secured } }, async function getOrder(req, reply) {
    const found = shop.getOrder(req.params.id);
    if (found === null) return reply.code(404).send(NOT_FOUND);
    return found;
  });
  app.patch('/api/orders/:id', { onRequest: authenticate, schema: { summary: 'Change an order', params: idParam, ...secured } },
    async function updateOrder(req) {
      return shop.updateOrder(req.params.id);
    });
  app.delete('/api/orders/:id', { onRequest: authenticate, schema: { summary: 'Cancel an order', params: idParam, ...secured } },
    async function deleteOrder(req) {
      return shop.deleteOrder(req.params.id);
    });

  app.get('/api/cart', { onRequest: authenticate, schema: { summary: "The caller's cart", ...secured } }, async function cart() {
    return shop.cart();
  });
  app.post('/api/cart/items', { onRequest: authenticate, schema: { summary: 'Add an item to the cart', ...secured } },
    async function addCartItem(req, reply) {
      reply.code(201);
      return shop.addCartItem();
    });
  app.delete('/api/cart/items/:itemId', {
    onRequest: authenticate,
    schema: {
      summary: 'Remove an item from the cart',
      params: { type: 'object', properties: { itemId: { type: 'string', format: 'uuid' } }, required: ['itemId'] },
      ...secured,
    },
  }, async function removeCartItem(req) {
    return shop.removeCartItem(req.params.itemId);
  });

  // Fastify's catch-all parameter is `*`.
  app.get('/api/files/*', { onRequest: authenticate, schema: { summary: 'Download a stored file (the path may contain slashes)', ...secured } },
    async function downloadFile(req) {
      return shop.file(req.params['*']);
    });

  // Documented as secured, but nobody wired the hook.
  app.get('/api/reports/sales', { schema: { summary: 'Sales report', ...secured } }, async function salesReport() {
    return shop.salesReport();
  });

  // Hidden from the spec with Fastify's own mechanism.
  app.get('/admin/export', { schema: { hide: true } }, async function exportAll() {
    return shop.exportAll();
  });
  app.get('/admin/users/:username', { onRequest: authenticate, schema: { hide: true } }, async function adminUser(req) {
    return shop.adminUser(req.params.username);
  });
  app.post('/admin/cache/flush', { onRequest: authenticate, schema: { hide: true } }, async function flushCache() {
    return shop.flushCache();
  });
  app.get('/internal/sessions', { schema: { hide: true } }, async function listSessions() {
    return shop.listSessions();
  });

  return app;
}

async function main() {
  const app = await build();
  if (out) {
    await app.ready();
    fs.writeFileSync(out, JSON.stringify(app.swagger(), null, 2));
    return;
  }
  await app.listen({ host: '127.0.0.1', port: port() });
  process.stdout.write(`fastify ${require('fastify/package.json').version} listening on ${JSON.stringify(app.server.address())}\n`);
  tracing.onShutdown(() => closeServer(app.server));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});

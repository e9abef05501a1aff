#!/usr/bin/env node
'use strict';
/*
 * Matrix app: Koa 3 + @koa/router under @opentelemetry/instrumentation-http and
 * @opentelemetry/instrumentation-koa; spec from swagger-jsdoc (hidden routes have no JSDoc).
 * Secured routes use the route-level `requireAuth` middleware, except the cart: its router shares
 * one `requireAuth` across all its routes (`cart.use(requireAuth)`), which answers 401 before any
 * route runs. `router.allowedMethods()` answers 405 to other methods of a known path.
 *   node app.js                      serve on 127.0.0.1:$PORT
 *   node app.js --write-spec OUT     write the OpenAPI document to OUT
 */

const fs = require('fs');
const { startTracing, closeServer, specTarget, port } = require('../common/tracing');
const { shop, principal, UNAUTHORIZED, NOT_FOUND } = require('../common/shop');

const out = specTarget();
if (out) {
  const swaggerJsdoc = require('swagger-jsdoc');
  const spec = swaggerJsdoc({
    definition: {
      openapi: '3.0.3',
      info: { title: 'Shop API (Koa)', version: require('koa/package.json').version },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    apis: [__filename],
    failOnErrors: true,
  });
  fs.writeFileSync(out, JSON.stringify(spec, null, 2));
  process.exit(0);
}

const { KoaInstrumentation } = require('@opentelemetry/instrumentation-koa');
const tracing = startTracing([new KoaInstrumentation()]);

const Koa = require('koa');
const Router = require('@koa/router');

/** Named, so the instrumentation names its span `middleware - requireAuth` / the router layer. */
async function requireAuth(ctx, next) {
  const who = principal(ctx.get('authorization'));
  if (!who) {
    ctx.status = 401;
    ctx.body = UNAUTHORIZED;
    return;
  }
  ctx.state.user = who;
  await next();
}

/** A tiny JSON body reader, enough for the shop's write routes. */
async function jsonBody(ctx, next) {
  if (ctx.is('application/json')) {
    const chunks = [];
    for await (const c of ctx.req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      ctx.request.body = text ? JSON.parse(text) : {};
    } catch {
      ctx.status = 400;
      ctx.body = { error: 'invalid JSON' };
      return;
    }
  }
  await next();
}

const router = new Router();

/**
 * @openapi
 * /health:
 *   get:
 *     summary: Liveness probe
 *     responses:
 *       200: { description: OK }
 * /api/auth/login:
 *   post:
 *     summary: Exchange credentials for a token
 *     responses:
 *       200: { description: A token }
 * /api/auth/logout:
 *   post:
 *     summary: Revoke the caller's token
 *     security: [{ bearerAuth: [] }]
 *     responses:
 *       200: { description: Logged out }
 *       401: { description: No valid token }
 */
router.get('/health', (ctx) => {
  ctx.body = shop.health();
});
router.post('/api/auth/login', (ctx) => {
  ctx.body = shop.login();
});
router.post('/api/auth/logout', requireAuth, (ctx) => {
  ctx.body = shop.logout();
});

/**
 * @openapi
 * /api/products:
 *   get:
 *     summary: The public catalog
 *     responses:
 *       200: { description: Products }
 * /api/products/{id}:
 *   get:
 *     summary: One product
 *     parameters:
 *       - { name: id, in: path, required: true, schema: { type: integer } }
 *     responses:
 *       200: { description: The product }
 *       404: { description: No such product }
 * /api/products/{id}/reviews:
 *   post:
 *     summary: Review a product
 *     security: [{ bearerAuth: [] }]
 *     parameters:
 *       - { name: id, in: path, required: true, schema: { type: integer } }
 *     responses:
 *       201: { description: Review accepted }
 *       401: { description: No valid token }
 * /api/categories/{slug}/products:
 *   get:
 *     summary: Products of a category
 *     parameters:
 *       - { name: slug, in: path, required: true, schema: { type: string } }
 *     responses:
 *       200: { description: Products }
 * /api/promotions/{slug}:
 *   get:
 *     summary: A promotion
 *     parameters:
 *       - { name: slug, in: path, required: true, schema: { type: string } }
 *     responses:
 *       200: { description: The promotion }
 */
router.get('/api/products', (ctx) => {
  ctx.body = shop.listProducts();
});
router.get('/api/products/:id', (ctx) => {
  const found = shop.getProduct(ctx.params.id);
  ctx.status = found === null ? 404 : 200;
  ctx.body = found === null ? NOT_FOUND : found;
});
router.post('/api/products/:id/reviews', requireAuth, (ctx) => {
  ctx.status = 201;
  ctx.body = shop.addReview(ctx.params.id);
});
router.get('/api/categories/:slug/products', (ctx) => {
  ctx.body = shop.categoryProducts(ctx.params.slug);
});
router.get('/api/promotions/:slug', (ctx) => {
  ctx.body = shop.promotion(ctx.params.slug);
});

/**
 * @openapi
 * /api/users/{username}:
 *   get:
 *     summary: A public profile
 *     parameters:
 *       - { name: username, in: path, required: true, schema: { type: string } }
 *     responses:
 *       200: { description: The profile }
 * /api/users/{username}/profile:
 *   put:
 *     summary: Update one's profile
 *     security: [{ bearerAuth: [] }]
 *     parameters:
 *       - { name: username, in: path, required: true, schema: { type: string } }
 *     responses:
 *       200: { description: Updated }
 *       401: { description: No valid token }
 * /api/users/{username}/orders:
 *   get:
 *     summary: A user's orders
 *     security: [{ bearerAuth: [] }]
 *     parameters:
 *       - { name: username, in: path, required: true, schema: { type: string } }
 *     responses:
 *       200: { description: Orders }
 *       401: { description: No valid token }
 * /api/users/{username}/orders/{id}:
 *   get:
 *     summary: One of a user's orders
 *     security: [{ bearerAuth: [] }]
 *     parameters:
 *       - { name: username, in: path, required: true, schema: { type: string } }
 *       - { name: id, in: path, required: true, schema: { type: integer } }
 *     responses:
 *       200: { description: The order }
 *       401: { description: No valid token }
 */
const users = new Router({ prefix: '/api/users' });
users.get('/:username', (ctx) => {
  ctx.body = shop.publicProfile(ctx.params.username);
});
users.put('/:username/profile', requireAuth, (ctx) => {
  ctx.body = shop.updateProfile(ctx.params.username, ctx.request.body);
});
users.get('/:username/orders', requireAuth, (ctx) => {
  ctx.body = shop.userOrders(ctx.params.username);
});
users.get('/:username/orders/:id', requireAuth, (ctx) => {
  ctx.body = shop.userOrder(ctx.params.username, ctx.params.id);
});

/**
 * @openapi
 * /api/orders:
 *   post:
 *     summary: Place an order
 *     security: [{ bearerAuth: [] }]
 *     responses:
 *       201: { description: Created }
 *       401: { description: No valid token }
 * /api/orders/{id}:
 *   get:
 *     summary: One order
 *     security: [{ bearerAuth: [] }]
 *     parameters:
 *       - { name: id, in: path, required: true, schema: { type: integer } }
 *     responses:
 *       200: { description: The order }
 *       401: { description: No valid token }
 *       404: { description: No such order }
 *   patch:
 *     summary: Change an order
 *     security: [{ bearerAuth: [] }]
 *     parameters:
 *       - { name: id, in: path, required: true, schema: { type: integer } }
 *     responses:
 *       200: { description: Changed }
 *       401: { description: No valid token }
 *   delete:
 *     summary: Cancel an order
 *     security: [{ bearerAuth: [] }]
 *     parameters:
 *       - { name: id, in: path, required: true, schema: { type: integer } }
 *     responses:
 *       200: { description: Cancelled }
 *       401: { description: No valid token }
 */
router.post('/api/orders', requireAuth, (ctx) => {
  ctx.status = 201;
  ctx.body = shop.createOrder();
});
router.get('/api/orders/:id', requireAuth, (ctx) => {
  const found = shop.getOrder(ctx.params.id);
  ctx.status = found === null ? 404 : 200;
  ctx.body = found === null ? NOT_FOUND : found;
});
router.patch('/api/orders/:id', requireAuth, (ctx) => {
  ctx.body = shop.updateOrder(ctx.params.id);
});
router.delete('/api/orders/:id', requireAuth, (ctx) => {
  ctx.body = shop.deleteOrder(ctx.params.id);
});

/**
 * @openapi
 * /api/cart:
 *   get:
 *     summary: The caller's cart
 *     security: [{ bearerAuth: [] }]
 *     responses:
 *       200: { description: The cart }
 *       401: { description: No valid token }
 * /api/cart/items:
 *   post:
 *     summary: Add an item to the cart
 *     security: [{ bearerAuth: [] }]
 *     responses:
 *       201: { description: Added }
 *       401: { description: No valid token }
 * /api/cart/items/{itemId}:
 *   delete:
 *     summary: Remove an item from the cart
 *     security: [{ bearerAuth: [] }]
 *     parameters:
 *       - { name: itemId, in: path, required: true, schema: { type: string, format: uuid } }
 *     responses:
 *       200: { description: Removed }
 *       401: { description: No valid token }
 */
const cart = new Router({ prefix: '/api/cart' });
// Shared by every cart route: answers 401 before the route's own middleware runs.
cart.use(requireAuth);
cart.get('/', (ctx) => {
  ctx.body = shop.cart();
});
cart.post('/items', (ctx) => {
  ctx.status = 201;
  ctx.body = shop.addCartItem();
});
cart.delete('/items/:itemId', (ctx) => {
  ctx.body = shop.removeCartItem(ctx.params.itemId);
});

/**
 * @openapi
 * /api/files/{path}:
 *   get:
 *     summary: Download a stored file (the path may contain slashes)
 *     security: [{ bearerAuth: [] }]
 *     parameters:
 *       - { name: path, in: path, required: true, schema: { type: string } }
 *     responses:
 *       200: { description: The file's metadata }
 *       401: { description: No valid token }
 * /api/reports/sales:
 *   get:
 *     summary: Sales report (documented as secured, but nobody wired the middleware)
 *     security: [{ bearerAuth: [] }]
 *     responses:
 *       200: { description: The report }
 *       401: { description: No valid token }
 */
router.get('/api/files/*path', requireAuth, (ctx) => {
  const p = ctx.params.path;
  ctx.body = shop.file(Array.isArray(p) ? p.join('/') : p);
});
router.get('/api/reports/sales', (ctx) => {
  ctx.body = shop.salesReport();
});

// Hidden: no JSDoc, so no spec entry.
router.get('/admin/export', async function exportAll(ctx) {
  ctx.body = shop.exportAll();
});
router.get('/admin/users/:username', requireAuth, (ctx) => {
  ctx.body = shop.adminUser(ctx.params.username);
});
router.post('/admin/cache/flush', requireAuth, (ctx) => {
  ctx.body = shop.flushCache();
});
router.get('/internal/sessions', async function listSessions(ctx) {
  ctx.body = shop.listSessions();
});

const app = new Koa();
app.use(jsonBody);
// Every route is registered before `routes()` is mounted: the instrumentation wraps the route
// stack it finds at that moment.
for (const r of [router, users, cart]) {
  app.use(r.routes());
  app.use(r.allowedMethods());
}

const server = app.listen(port(), '127.0.0.1', () => {
  process.stdout.write(`koa ${require('koa/package.json').version} listening on 127.0.0.1:${server.address().port}\n`);
});
tracing.onShutdown(() => closeServer(server));

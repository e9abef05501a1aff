'use strict';
/*
 * The shop API on Express (4 or 5, the module is passed in), documented with swagger-jsdoc:
 * documented operations carry an `@openapi` JSDoc block, hidden ones simply have none. Secured
 * routes use the route-level `requireAuth` middleware; `router.route(...).all(methodNotAllowed)`
 * answers 405 to the other methods of two documented paths (the idiom Express offers for 405s).
 */

const { shop, principal, UNAUTHORIZED, NOT_FOUND } = require('./shop');

/** Route-level auth: a named function, so the instrumentation names its span after it. */
function requireAuth(req, res, next) {
  const who = principal(req.get('authorization'));
  if (!who) return res.status(401).json(UNAUTHORIZED);
  req.user = who;
  return next();
}

function methodNotAllowed(req, res) {
  res.status(405).json({ error: 'method not allowed' });
}

/** 200 with the object, or the view's own 404 when there is none. */
function sendFound(res, found) {
  if (found === null) return res.status(404).json(NOT_FOUND);
  return res.json(found);
}

/**
 * @param express the express module (4 or 5)
 * @param filesRoute the catch-all route of file paths in this major's syntax
 */
function buildApp(express, filesRoute) {
  const app = express();
  app.use(express.json());

  /**
   * @openapi
   * /health:
   *   get:
   *     summary: Liveness probe
   *     responses:
   *       200: { description: OK }
   */
  app.route('/health').get((req, res) => res.json(shop.health())).all(methodNotAllowed);

  /**
   * @openapi
   * /api/auth/login:
   *   post:
   *     summary: Exchange credentials for a token
   *     responses:
   *       200: { description: A token }
   */
  app.post('/api/auth/login', function login(req, res) {
    res.json(shop.login());
  });

  /**
   * @openapi
   * /api/auth/logout:
   *   post:
   *     summary: Revoke the caller's token
   *     security: [{ bearerAuth: [] }]
   *     responses:
   *       200: { description: Logged out }
   *       401: { description: No valid token }
   */
  app.post('/api/auth/logout', requireAuth, (req, res) => res.json(shop.logout()));

  const products = express.Router();
  /**
   * @openapi
   * /api/products:
   *   get:
   *     summary: The public catalog
   *     responses:
   *       200: { description: Products }
   */
  products.get('/', (req, res) => res.json(shop.listProducts()));
  /**
   * @openapi
   * /api/products/{id}:
   *   get:
   *     summary: One product
   *     parameters:
   *       - { name: id, in: path, required: true, schema: { type: integer } }
   *     responses:
   *       200: { description: The product }
   *       404: { description: No such product }
   */
  products
    .route('/:id')
    .get((req, res) => sendFound(res, shop.getProduct(req.params.id)))
    .all(methodNotAllowed);
  /**
   * @openapi
   * /api/products/{id}/reviews:
   *   post:
   *     summary: Review a product
   *     security: [{ bearerAuth: [] }]
   *     parameters:
   *       - { name: id, in: path, required: true, schema: { type: integer } }
   *     responses:
   *       201: { description: Review accepted }
   *       401: { description: No valid token }
   */
  products.post('/:id/reviews', requireAuth, (req, res) => res.status(201).json(shop.addReview(req.params.id)));
  app.use('/api/products', products);

  /**
   * @openapi
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
  app.get('/api/categories/:slug/products', (req, res) => res.json(shop.categoryProducts(req.params.slug)));
  app.get('/api/promotions/:slug', (req, res) => res.json(shop.promotion(req.params.slug)));

  const users = express.Router();
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
  users.get('/:username', (req, res) => res.json(shop.publicProfile(req.params.username)));
  users.put('/:username/profile', requireAuth, (req, res) =>
    res.json(shop.updateProfile(req.params.username, req.body)));
  users.get('/:username/orders', requireAuth, (req, res) => res.json(shop.userOrders(req.params.username)));
  users.get('/:username/orders/:id', requireAuth, (req, res) =>
    res.json(shop.userOrder(req.params.username, req.params.id)));
  app.use('/api/users', users);

  const orders = express.Router();
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
  orders.post('/', requireAuth, (req, res) => res.status(201).json(shop.createOrder()));
  orders.get('/:id', requireAuth, (req, res) => sendFound(res, shop.getOrder(req.params.id)));
  orders.patch('/:id', requireAuth, (req, res) => res.json(shop.updateOrder(req.params.id)));
  orders.delete('/:id', requireAuth, (req, res) => res.json(shop.deleteOrder(req.params.id)));
  app.use('/api/orders', orders);

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
  app.get('/api/cart', requireAuth, (req, res) => res.json(shop.cart()));
  app.post('/api/cart/items', requireAuth, (req, res) => res.status(201).json(shop.addCartItem()));
  app.delete('/api/cart/items/:itemId', requireAuth, (req, res) => res.json(shop.removeCartItem(req.params.itemId)));

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
   */
  app.get(filesRoute, requireAuth, (req, res) => {
    const p = req.params.path;
    res.json(shop.file(Array.isArray(p) ? p.join('/') : p));
  });

  /**
   * @openapi
   * /api/reports/sales:
   *   get:
   *     summary: Sales report (documented as secured, but nobody wired the middleware)
   *     security: [{ bearerAuth: [] }]
   *     responses:
   *       200: { description: The report }
   *       401: { description: No valid token }
   */
  app.get('/api/reports/sales', (req, res) => res.json(shop.salesReport()));

  // Hidden: no JSDoc, so no spec entry.
  const admin = express.Router();
  admin.get('/export', function exportAll(req, res) {
    res.json(shop.exportAll());
  });
  admin.get('/users/:username', requireAuth, (req, res) => res.json(shop.adminUser(req.params.username)));
  admin.post('/cache/flush', requireAuth, (req, res) => res.json(shop.flushCache()));
  app.use('/admin', admin);
  app.get('/internal/sessions', function listSessions(req, res) {
    res.json(shop.listSessions());
  });

  app.use((req, res) => res.status(404).json({ error: 'not found' }));
  return app;
}

/** The spec, from swagger-jsdoc reading this file's `@openapi` blocks. */
function buildSpec(title, version) {
  const swaggerJsdoc = require('swagger-jsdoc');
  return swaggerJsdoc({
    definition: {
      openapi: '3.0.3',
      info: { title, version },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    apis: [__filename],
    failOnErrors: true,
  });
}

module.exports = { buildApp, buildSpec };

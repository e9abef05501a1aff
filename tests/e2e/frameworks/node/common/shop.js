'use strict';
/*
 * The shop the matrix apps serve: framework-independent answers, so each app only differs in how
 * its framework routes, documents and guards them. Handlers accept any parameter value the driver
 * sends (ids, usernames with dots, slugs, file paths) and answer 2xx.
 */

const CATEGORIES = ['books', 'garden', 'toys', 'kitchen'];

/** Accepts `Authorization: Bearer valid-<anything>`, the matrix's valid token shape. */
function bearerIsValid(header) {
  return typeof header === 'string' && /^Bearer valid-\S+$/.test(header);
}

function principal(header) {
  return bearerIsValid(header) ? { user: header.slice('Bearer valid-'.length), scopes: ['shop'] } : null;
}

const UNAUTHORIZED = { error: 'unauthorized', message: 'a valid bearer token is required' };
const NOT_FOUND = { error: 'not found' };

/** Products and orders with ids from 100000 on do not exist: their views answer 404. */
const exists = (id) => Number(id) < 100000;

function product(id) {
  const n = Number(id) || 0;
  return { id: n, name: `Product ${n}`, category: CATEGORIES[n % CATEGORIES.length], price: (n % 97) + 0.99 };
}

const shop = {
  health: () => ({ status: 'ok' }),
  listProducts: () => ({ items: [1, 2, 3].map(product), total: 3 }),
  /** null when there is no such product */
  getProduct: (id) => (exists(id) ? product(id) : null),
  categoryProducts: (slug) => ({ category: slug, items: [product(7), product(8)] }),
  promotion: (slug) => ({ slug, title: slug.replace(/-/g, ' '), discount: 15 }),
  publicProfile: (username) => ({ username, displayName: username.split('.')[0], joined: '2024-03-01' }),
  login: () => ({ token: 'valid-session-token', expiresIn: 3600 }),
  logout: () => ({ loggedOut: true }),
  userOrders: (username) => ({ username, orders: [{ id: 41 }, { id: 42 }] }),
  userOrder: (username, id) => ({ username, id: Number(id) || id, status: 'shipped' }),
  updateProfile: (username, body) => ({ username, ...(body && typeof body === 'object' ? body : {}), updated: true }),
  createOrder: () => ({ id: 1001, status: 'created' }),
  /** null when there is no such order */
  getOrder: (id) => (exists(id) ? { id: Number(id) || id, status: 'paid', total: 42.5 } : null),
  updateOrder: (id) => ({ id: Number(id) || id, status: 'updated' }),
  deleteOrder: (id) => ({ id: Number(id) || id, deleted: true }),
  cart: () => ({ items: [{ id: '6f1c2d1e-8d8e-4a53-9a53-2b1e4a0f9c11', productId: 7, quantity: 1 }] }),
  addCartItem: () => ({ id: '0b6f9a52-51a4-4d52-8f35-61f1c3f0d2a7', added: true }),
  removeCartItem: (itemId) => ({ id: itemId, removed: true }),
  addReview: (id) => ({ productId: Number(id) || id, reviewId: 5, status: 'pending' }),
  file: (path) => ({ path, size: 1024, contentType: 'application/octet-stream' }),
  salesReport: () => ({ period: '2026-Q1', revenue: 125000 }),
  exportAll: () => ({ users: 1289, orders: 40211, format: 'json' }),
  adminUser: (username) => ({ username, role: 'customer', disabled: false }),
  flushCache: () => ({ flushed: true }),
  listSessions: () => ({ sessions: [{ id: 's-1', user: 'carol.w' }, { id: 's-2', user: 'dave.k' }] }),
};

module.exports = { shop, bearerIsValid, principal, UNAUTHORIZED, NOT_FOUND };

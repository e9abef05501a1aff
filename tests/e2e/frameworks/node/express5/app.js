#!/usr/bin/env node
'use strict';
/*
 * Matrix app: Express 5 (npm alias `express5`) under @opentelemetry/instrumentation-http and
 * @opentelemetry/instrumentation-express; spec from swagger-jsdoc.
 *   node app.js                      serve on 127.0.0.1:$PORT
 *   node app.js --write-spec OUT     write the OpenAPI document to OUT
 */
require('../common/express_main').main({
  pkg: 'express5',
  title: 'Shop API (Express 5)',
  // path-to-regexp 8: a named wildcard
  filesRoute: '/api/files/*path',
});

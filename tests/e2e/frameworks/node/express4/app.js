#!/usr/bin/env node
'use strict';
/*
 * Matrix app: Express 4 (npm alias `express4`) under @opentelemetry/instrumentation-http and
 * @opentelemetry/instrumentation-express; spec from swagger-jsdoc.
 *   node app.js                      serve on 127.0.0.1:$PORT
 *   node app.js --write-spec OUT     write the OpenAPI document to OUT
 */
require('../common/express_main').main({
  pkg: 'express4',
  title: 'Shop API (Express 4)',
  // path-to-regexp 0.1: a named parameter whose pattern spans slashes
  filesRoute: '/api/files/:path(*)',
});

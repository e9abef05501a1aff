#!/usr/bin/env node
'use strict';
/*
 * Matrix app: NestJS 11 (Express platform), spec from @nestjs/swagger (hidden routes with
 * @ApiExcludeController / @ApiExcludeEndpoint), auth with a guard (@UseGuards(AuthGuard)).
 * Two matrix entries run this same code:
 *   nestjs-core    @opentelemetry/instrumentation-http + @opentelemetry/instrumentation-nestjs-core
 *   nestjs-nocore  NESTJS_CORE_INSTRUMENTATION=0: the HTTP instrumentation only (no http.route at
 *                  all, as under NestJS 12, which instrumentation-nestjs-core does not support)
 *
 *   node app.js                      serve on 127.0.0.1:$PORT
 *   node app.js --write-spec OUT     write the OpenAPI document to OUT
 */
const { startTracing, specTarget } = require('../common/tracing');

const out = specTarget();
let tracing = null;
if (!out) {
  const instrumentations = [];
  if (process.env.NESTJS_CORE_INSTRUMENTATION !== '0') {
    const { NestInstrumentation } = require('@opentelemetry/instrumentation-nestjs-core');
    instrumentations.push(new NestInstrumentation());
  }
  tracing = startTracing(instrumentations);
}

require('reflect-metadata');
require('./ts-register');
require('./src/main.ts')
  .main({ specOut: out, tracing })
  .catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  });

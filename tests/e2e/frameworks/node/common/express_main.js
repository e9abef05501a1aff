'use strict';
/*
 * Entry point shared by the Express 4 and 5 apps: tracing first, then the framework.
 *
 * Both majors are installed side by side as npm aliases (`express4`, `express5`). The
 * instrumentation's require hook only recognises a package installed as `express`, so the aliased
 * module is handed to the instrumentation's own module definition (`patch`), the function the
 * hook would have called with it.
 */

const fs = require('fs');
const { startTracing, closeServer, specTarget, port } = require('./tracing');

function main({ pkg, title, filesRoute }) {
  const out = specTarget();
  if (out) {
    const { buildSpec } = require('./express_app');
    fs.writeFileSync(out, JSON.stringify(buildSpec(title, require(`${pkg}/package.json`).version), null, 2));
    return;
  }
  const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');
  const expressInstrumentation = new ExpressInstrumentation();
  const tracing = startTracing([expressInstrumentation]);

  const express = require(pkg);
  const version = require(`${pkg}/package.json`).version;
  for (const def of expressInstrumentation.getModuleDefinitions()) {
    if (def.name === 'express' && def.patch) def.patch(express, version);
  }

  const { buildApp } = require('./express_app');
  const app = buildApp(express, filesRoute);
  const server = app.listen(port(), '127.0.0.1', () => {
    process.stdout.write(`${pkg} ${version} listening on 127.0.0.1:${server.address().port}\n`);
  });
  tracing.onShutdown(() => closeServer(server));
}

module.exports = { main };

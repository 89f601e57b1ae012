#!/usr/bin/env node
// Builds every app with Nest's monorepo webpack build: dist/apps/<app>/main.js each.
// `node scripts/build.js cli power` builds only those. Tools (type "tool": lab-nodes, the simulated
// nodes) are built the same way; they are not services (the compose file and the service tests
// take the "application" projects).
'use strict';
const { spawnSync } = require('node:child_process');
const { projects } = require('../nest-cli.json');

const wanted = process.argv.slice(2);
const apps = Object.entries(projects)
  .filter(([name, p]) => ['application', 'tool'].includes(p.type) && (!wanted.length || wanted.includes(name)))
  .map(([name]) => name);
for (const app of apps) {
  const t = Date.now();
  const r = spawnSync(process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'build', app], {
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    process.stderr.write(`build of ${app} failed\n`);
    process.exit(r.status ?? 1);
  }
  process.stdout.write(`built dist/apps/${app}/main.js (${((Date.now() - t) / 1000).toFixed(1)} s)\n`);
}

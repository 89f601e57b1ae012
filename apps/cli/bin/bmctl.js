#!/usr/bin/env node
// Entry point linked as `bmctl` (npx bmctl): runs the webpack bundle built by `npm run build`.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.resolve(__dirname, '..', '..', '..', 'dist', 'apps', 'cli', 'main.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write(`bmctl: ${bundle} is missing; run \`npm run build\` first\n`);
  process.exit(3);
}
require(bundle);

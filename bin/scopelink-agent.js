#!/usr/bin/env node
// The headless agent: src-agent/cli.ts as one bundle, built by `npm run build:agent`.
import { existsSync } from 'node:fs';

const bundle = new URL('../out/agent/cli.mjs', import.meta.url);
if (!existsSync(bundle)) {
  console.error('scopelink-agent: out/agent/cli.mjs is missing: run `npm run build:agent` first');
  process.exit(2);
}
// Stack traces name the TypeScript sources, through the bundle's source map.
process.setSourceMapsEnabled(true);
await import(bundle.href);

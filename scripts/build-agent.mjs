#!/usr/bin/env node
// `npm run build:agent`: the headless agent as one ES module, out/agent/cli.mjs, bundled
// from src-agent/cli.ts by esbuild, with its parse worker (out/agent/parse-worker.cjs, from
// src-agent/collect/parse-worker.ts), their source maps and the built-in device profiles
// beside it (out/agent/profiles/*.json), as are iconv-lite's code tables (out/agent/tables).
// bin/scopelink-agent.js runs that file: no TypeScript compiled at start-up. The JavaScript
// dependencies are bundled too: loading them one file at a time from node_modules was a
// third of the agent's start-up (550 ms to the first item on a small log, 380 ms bundled, at
// the same idle memory). Native modules and what loads only on demand stay in node_modules.
//
// The test run (vitest's globalSetup), the demo and the benches build first, so that
// whatever spawns the agent runs the current sources. Files are replaced by rename, so an
// agent that starts meanwhile sees either the old bundle or the new one, never a half.
import { buildSync } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const AGENT_BUNDLE = path.join(root, 'out/agent/cli.mjs');
export const PARSE_WORKER = path.join(root, 'out/agent/parse-worker.cjs');
const outDir = path.dirname(AGENT_BUNDLE);
const profilesSrc = path.join(root, 'src-agent/profiles');
const codeTablesSrc = path.join(
  path.dirname(createRequire(import.meta.url).resolve('iconv-lite/package.json')),
  'encodings/tables',
);

/** Builds out/agent; synchronous (about 0.3 s), so that a synchronous spawner can call it. */
export function buildAgent() {
  const common = {
    absWorkingDir: root,
    outdir: outDir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    // sqlite3 and keytar are native; ws tries bufferutil and utf-8-validate, which are
    // optional and not installed; fast-xml-parser is loaded on first need (xml-element.ts).
    // iconv-lite's double-byte code tables (half the bundle's size, which V8 must scan at
    // every start) are loaded only for a source in such a code page: from beside the bundle.
    external: [
      'sqlite3',
      'keytar',
      'bufferutil',
      'utf-8-validate',
      'fast-xml-parser',
      './tables/*.json',
    ],
    // Stack traces point at the TypeScript sources (the bin turns source maps on); the
    // sources themselves stay out of the map.
    sourcemap: 'linked',
    sourcesContent: false,
    // The bundled packages' license notices, beside each bundle (cli.mjs.LEGAL.txt).
    legalComments: 'linked',
    logLevel: 'warning',
    write: false,
  };
  const agent = buildSync({
    ...common,
    entryPoints: [{ in: 'src-agent/cli.ts', out: 'cli' }],
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    // The CommonJS inside (pino, ws, iconv-lite) calls require(), which an ES module has
    // only when it makes one.
    banner: {
      js: "import { createRequire as __agentRequire } from 'node:module'; const require = __agentRequire(import.meta.url);",
    },
  });
  // The parse worker is CommonJS: the tray app starts it from inside app.asar, and require()
  // is what Electron's archive support in worker threads is made and tested for.
  const worker = buildSync({
    ...common,
    entryPoints: [{ in: 'src-agent/collect/parse-worker.ts', out: 'parse-worker' }],
    outExtension: { '.js': '.cjs' },
    format: 'cjs',
    define: { 'import.meta.url': '__moduleUrl' },
    // The directive first: esbuild's own "use strict" comes after the banner, too late.
    banner: {
      js: "'use strict'; const __moduleUrl = require('node:url').pathToFileURL(__filename).href;",
    },
  });
  mkdirSync(outDir, { recursive: true });
  for (const file of [...agent.outputFiles, ...worker.outputFiles]) {
    replace(file.path, file.contents);
  }
  mirrorJson(profilesSrc, path.join(outDir, 'profiles'));
  mirrorJson(codeTablesSrc, path.join(outDir, 'tables'));
}

/** The JSON files of `from` in `to`; one removed from `from` is removed from `to` too. */
function mirrorJson(from, to) {
  mkdirSync(to, { recursive: true });
  const names = readdirSync(from).filter((f) => f.endsWith('.json'));
  for (const name of names) replace(path.join(to, name), readFileSync(path.join(from, name)));
  for (const name of readdirSync(to)) {
    if (name.endsWith('.json') && !names.includes(name))
      rmSync(path.join(to, name), { force: true });
  }
}

function replace(file, contents) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

let built = false;

/** buildAgent() the first time it is called in this process, nothing after. */
export function ensureAgentBuilt() {
  if (built) return;
  buildAgent();
  built = true;
}

/** vitest's globalSetup: one build per test run, before any test spawns the agent. */
export function setup() {
  buildAgent();
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  buildAgent();
}

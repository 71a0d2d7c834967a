#!/usr/bin/env node
// Bundles the client (src/index.ts: createClient, watchJob, the fold of events) into one ESM file
// for the web dashboard, which is plain ES modules embedded in the Go binary and served under a
// CSP of script-src 'self': web/static/vendor/aijobs-client.js, checked in, imported by
// web/static/app.js. Not minified, so a diff of it can be read.
//
//   npm run build:web                      writes the bundle
//   node scripts/build-web.mjs --check     exits 1 when the checked-in bundle is not what it would
//                                          write (run by test/generated.test.ts, so by `npm test`)
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '..', '..', 'web', 'static', 'vendor', 'aijobs-client.js');

const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/index.ts'],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  write: false,
  logLevel: 'error',
  banner: {
    js:
      '// @aijobs/client, bundled from clients/typescript/src by `npm run build:web`: do not edit.\n' +
      '// The dashboard (app.js) imports the fold of job events from it: one applyEvent for the\n' +
      '// TypeScript client and the page.',
  },
});
const text = result.outputFiles[0].text;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(out, 'utf8');
  } catch {
    /* missing counts as stale */
  }
  if (current !== text) {
    console.error(
      `${relative(process.cwd(), out)} is stale: clients/typescript/src changed since it was built. ` +
        'Run `npm run build:web` in clients/typescript and commit the result.',
    );
    process.exit(1);
  }
} else {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, text);
  console.error(`wrote ${out}`);
}

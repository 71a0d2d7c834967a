#!/usr/bin/env node
// Generates src/openapi.ts from the server's OpenAPI document (../../api/openapi.json, the file
// the server embeds and serves at /openapi.json) with openapi-typescript. src/types.ts derives the
// wire types from it, so they cannot drift from the server.
//
//   npm run gen:types            writes src/openapi.ts
//   node scripts/gen-types.mjs --check   exits 1 when src/openapi.ts is not what it would write
//                                        (run by test/generated.test.ts, so by `npm test` and CI)
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const spec = join(root, '..', '..', 'api', 'openapi.json');
const out = join(root, 'src', 'openapi.ts');

const HEADER = `// Generated from api/openapi.json by openapi-typescript: do not edit.
// Run \`npm run gen:types\` in clients/typescript after changing the OpenAPI document.
/* eslint-disable */
`;

const ast = await openapiTS(pathToFileURL(spec), { alphabetize: false });
const text = HEADER + astToString(ast);

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(out, 'utf8');
  } catch {
    /* missing counts as stale */
  }
  if (current !== text) {
    console.error(
      'src/openapi.ts is stale: api/openapi.json changed since it was generated. ' +
        'Run `npm run gen:types` in clients/typescript and commit the result.',
    );
    process.exit(1);
  }
} else {
  writeFileSync(out, text);
  console.error(`wrote ${out}`);
}

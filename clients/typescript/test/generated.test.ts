// The checked-in generated files are what their generators would write now, and the sources
// type-check against them: the TypeScript types follow api/openapi.json, and the dashboard's copy
// of the client (web/static/vendor/aijobs-client.js) follows src/. A failure names the command that
// brings the file up to date.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function check(script: string): Promise<string> {
  try {
    await run(process.execPath, [join(root, 'scripts', script), '--check'], { cwd: root });
    return '';
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return (e.stderr || e.message).trim();
  }
}

describe('generated files', () => {
  it('src/openapi.ts is generated from api/openapi.json (else: npm run gen:types)', async () => {
    expect(await check('gen-types.mjs')).toBe('');
  });

  it('web/static/vendor/aijobs-client.js is built from src/ (else: npm run build:web)', async () => {
    expect(await check('build-web.mjs')).toBe('');
  });

  it('src/ and test/ type-check against the generated types (tsc --noEmit)', async () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    let out = '';
    try {
      await run(process.execPath, [tsc, '--noEmit', '-p', join(root, 'tsconfig.json')], { cwd: root, maxBuffer: 8 << 20 });
    } catch (err) {
      const e = err as { stdout?: string; message: string };
      out = (e.stdout || e.message).trim();
    }
    expect(out).toBe('');
  }, 120_000);
});

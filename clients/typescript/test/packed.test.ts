/**
 * The package as an app gets it: `npm pack`, then a small React app in a temp directory with its
 * own react, react-dom and @tanstack/react-query from the npm registry installs the tarball,
 * type-checks against its .d.ts, is bundled with esbuild, served from a second loopback origin, and
 * driven in Chromium through a job submitted from the page to its result shown on the page, against
 * an aijobs started with `--allowed-origins` for that origin. Also: `npm install <folder>
 * --install-links` gives the built package without a node_modules of its own.
 *
 * Needs the npm registry (the temp app's install) and Chromium (CHROMIUM_PATH, default
 * /usr/bin/chromium; skipped when missing unless CI=true). AIJOBS_TEST_BIN=<path> skips `go build`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = resolve(pkgDir, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) && process.env.CI !== 'true';
if (skip) console.log(`# SKIP packed.test.ts: Chromium not found at ${CHROMIUM} (apt-get install chromium)`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const npm = (args: string[], cwd: string) =>
  exec('npm', [...args, '--no-audit', '--no-fund'], {
    cwd,
    maxBuffer: 64 << 20,
    // The test runner's own npm context (when run by `npm test`) is not the temp app's.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_(package|lifecycle)_/i.test(k) && k !== 'npm_config_prefix')),
  });

const APP_TSX = `
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createClient, type CompletedResult } from '@aijobs/client';
import { AiJobsProvider, useAiProxy } from '@aijobs/client/react';

const params = new URLSearchParams(location.search);
const aijobs = createClient({ baseUrl: params.get('api')!, token: params.get('token')! });

function Goal() {
  const ai = useAiProxy();
  const result = ai.jobStatus?.result as CompletedResult | undefined;
  return (
    <main>
      <h1>packed app</h1>
      <button disabled={ai.isLoading} onClick={() => ai.mutate('I want a SMART goal: run a half marathon by June')}>
        {ai.isLoading ? \`Processing… \${ai.progress}%\` : 'Generate goal'}
      </button>
      <p id="status">{ai.jobStatus?.status ?? 'idle'}</p>
      {ai.error && <p id="error">{ai.error.message}</p>}
      {ai.isJobComplete && <pre id="result">{JSON.stringify({ intent: result?.intent, output: ai.output })}</pre>}
    </main>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={new QueryClient()}>
      <AiJobsProvider client={aijobs}><Goal /></AiJobsProvider>
    </QueryClientProvider>
  </StrictMode>,
);
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'],
    jsx: 'react-jsx', strict: true, noEmit: true, skipLibCheck: true, isolatedModules: true, types: [],
  },
  include: ['src'],
};

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe.skipIf(skip)('the packed package in a React app bundled with esbuild', () => {
  let tmp = '';
  let app = '';
  let tarball = '';
  let child: ChildProcess | undefined;
  let serverLog = '';
  let web: Server | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'aijobs-packed-'));
    app = join(tmp, 'app');
    await mkdir(join(app, 'src'), { recursive: true });
    // npm pack runs `prepare` (the build) first.
    const { stdout } = await npm(['pack', '--json', '--pack-destination', tmp], pkgDir);
    const packed = JSON.parse(stdout)[0] as { filename: string; files: { path: string }[] };
    tarball = join(tmp, packed.filename);
    const files = packed.files.map((f) => f.path).sort();
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/react.js');
    expect(files).toContain('dist/react.d.ts');
    expect(files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md'].includes(f))).toEqual([]);

    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'packed-app', private: true, type: 'module' }));
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    await writeFile(join(app, 'src', 'main.tsx'), APP_TSX);
    await writeFile(join(app, 'index.html'),
      '<!doctype html><html><head><meta charset="utf-8"><title>packed</title><link rel="icon" href="data:,"></head>' +
      '<body><div id="root"></div><script type="module" src="/app.js"></script></body></html>');
    await npm(['install', 'react@19', 'react-dom@19', '@tanstack/react-query@5', '@types/react@19', '@types/react-dom@19', tarball], app);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => (web ? web.close(r) : r(undefined)));
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 30_000);

  it('installs as a tarball: dist only, react and React Query as peers, no node_modules of its own', () => {
    const dir = join(app, 'node_modules', '@aijobs', 'client');
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pkg.type).toBe('module');
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(Object.keys(pkg.peerDependencies).sort()).toEqual(['@tanstack/react-query', 'react']);
    expect(pkg.publishConfig).toMatchObject({ access: 'public' });
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'dist', 'package.json']);
  });

  it('type-checks the app against the package types', async () => {
    const tsc = join(pkgDir, 'node_modules', 'typescript', 'bin', 'tsc');
    await exec(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app }).catch((e) => {
      throw new Error(`tsc failed in the app:\n${e.stdout}${e.stderr}`);
    });
  }, 60_000);

  it('bundles with esbuild, runs from another origin in Chromium, and shows a job result', async () => {
    const out = join(app, 'dist');
    const result = await build({
      absWorkingDir: app,
      entryPoints: ['src/main.tsx'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      jsx: 'automatic',
      outfile: join(out, 'app.js'),
      metafile: true,
      logLevel: 'silent',
      define: { 'process.env.NODE_ENV': '"development"' },
    });
    // One copy of each: React, React Query and the client all come from the app's node_modules.
    const inputs = Object.keys(result.metafile.inputs).map((p) => relative(app, resolve(app, p)));
    for (const name of ['react', 'react-dom', '@tanstack/react-query', '@tanstack/query-core', '@aijobs/client']) {
      const dirs = new Set(inputs.filter((p) => p.includes(`node_modules/${name}/`)).map((p) => p.slice(0, p.lastIndexOf(`node_modules/${name}/`) + `node_modules/${name}`.length)));
      expect([...dirs], name).toEqual([`node_modules/${name}`]);
    }

    // The app's origin.
    const html = await readFile(join(app, 'index.html'));
    const js = await readFile(join(out, 'app.js'));
    web = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/app.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      else if (path === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(html);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => web!.listen(0, '127.0.0.1', r));
    const appOrigin = `http://127.0.0.1:${(web.address() as { port: number }).port}`;

    // aijobs on another origin, allowing the app's.
    const bin = process.env.AIJOBS_TEST_BIN ? resolve(process.env.AIJOBS_TEST_BIN) : join(tmp, 'aijobs');
    if (!process.env.AIJOBS_TEST_BIN) {
      await exec('go', ['build', '-o', bin, './cmd/aijobs'], { cwd: repoRoot, maxBuffer: 16 << 20 });
    }
    const dataDir = join(tmp, 'data');
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    child = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, '--offline-chunk-delay', '20ms',
      '--allowed-origins', appOrigin], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (serverLog += d));
    child.stderr!.on('data', (d) => (serverLog += d));
    for (const deadline = Date.now() + 60_000; ;) {
      if (child.exitCode !== null) throw new Error(`aijobs serve exited:\n${serverLog}`);
      const ok = await fetch(`${api}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`aijobs serve not ready:\n${serverLog}`);
      await sleep(100);
    }
    const { stdout } = await exec(bin, ['token', 'create', '--user', 'ts-packed', '--data-dir', dataDir], { cwd: tmp });
    const token = stdout.trim().split(/\s+/).pop()!;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    // launch() gives a fresh profile (--user-data-dir in a new temp directory) to each browser.
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
    await page.goto(`${appOrigin}/?${new URLSearchParams({ api, token })}`);
    await page.getByRole('heading', { name: 'packed app' }).waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Generate goal' }).click();
    const pre = page.locator('#result');
    await pre.waitFor({ timeout: 25_000 }).catch(async (e) => {
      throw new Error(`no result on the page (${await page.locator('body').innerText()}); ${problems.join('; ')}\n${e}`);
    });
    const shown = JSON.parse(await pre.innerText());
    expect(shown.intent).toBe('smart_goal');
    expect(shown.output.length).toBeGreaterThan(0);
    expect(await page.locator('#status').innerText()).toBe('completed');
    expect(problems).toEqual([]);
  }, 180_000);

  it('installs from the folder with --install-links: built on install, no node_modules of its own', async () => {
    const dir = join(tmp, 'linked');
    await mkdir(dir);
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'linked-app', private: true, type: 'module' }));
    await npm(['install', pkgDir, '--install-links'], dir);
    const installed = join(dir, 'node_modules', '@aijobs', 'client');
    expect(readdirSync(installed).sort()).toEqual(['README.md', 'dist', 'package.json']);
    expect(existsSync(join(installed, 'dist', 'react.d.ts'))).toBe(true);
    const mod = await import(join(installed, 'dist', 'index.js'));
    expect(typeof mod.createClient).toBe('function');
  }, 120_000);
});

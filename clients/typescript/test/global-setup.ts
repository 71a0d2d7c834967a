/**
 * Starts a real aijobs server for the test run: builds ./cmd/aijobs from the repository root, runs
 * `aijobs serve` on a free loopback port with a temporary data directory and the offline provider,
 * waits for GET /readyz, and creates one API token per test user with `aijobs token create`.
 *
 * AIJOBS_TEST_BIN=<path> uses an already built binary instead of `go build`. To run against a
 * server that is already up instead, set AIJOBS_TEST_URL and AIJOBS_TEST_TOKENS (JSON object
 * user → token, with the users listed in USERS below).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);

export const USERS = ['ts-client', 'ts-watch', 'ts-react', 'ts-other', 'ts-original', 'ts-contract'] as const;

declare module 'vitest' {
  export interface ProvidedContext {
    aijobs: { baseUrl: string; tokens: Record<string, string> };
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export default async function setup(project: TestProject) {
  if (process.env.AIJOBS_TEST_URL && process.env.AIJOBS_TEST_TOKENS) {
    project.provide('aijobs', {
      baseUrl: process.env.AIJOBS_TEST_URL.replace(/\/+$/, ''),
      tokens: JSON.parse(process.env.AIJOBS_TEST_TOKENS),
    });
    return;
  }

  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const tmp = await mkdtemp(join(tmpdir(), 'aijobs-ts-'));
  const bin = process.env.AIJOBS_TEST_BIN ? resolve(process.env.AIJOBS_TEST_BIN) : join(tmp, 'aijobs');
  const dataDir = join(tmp, 'data');
  let child: ChildProcess | undefined;
  let log = '';

  const teardown = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await rm(tmp, { recursive: true, force: true });
  };

  try {
    if (!process.env.AIJOBS_TEST_BIN) {
      try {
        await run('go', ['build', '-o', bin, './cmd/aijobs'], { cwd: repoRoot, maxBuffer: 16 << 20 });
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`go build ./cmd/aijobs failed in ${repoRoot}:\n${e.stderr ?? e.message}`);
      }
    }

    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    child = spawn(
      bin,
      ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, '--offline-chunk-delay', '20ms'],
      { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    if (process.env.AIJOBS_TEST_SERVER_LOG) {
      child.stdout!.pipe(process.stdout);
      child.stderr!.pipe(process.stderr);
    }

    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`aijobs serve exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log}`);
      }
      try {
        const res = await fetch(`${baseUrl}/readyz`);
        await res.body?.cancel();
        if (res.status === 200) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`aijobs serve not ready after 60 s:\n${log}`);
      await sleep(100);
    }

    const tokens: Record<string, string> = {};
    for (const user of USERS) {
      const { stdout } = await run(bin, ['token', 'create', '--user', user, '--data-dir', dataDir], { cwd: tmp });
      const token = stdout.trim().split(/\s+/).pop() ?? '';
      if (!token) throw new Error(`aijobs token create printed nothing for ${user}`);
      tokens[user] = token;
    }
    project.provide('aijobs', { baseUrl, tokens });
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}

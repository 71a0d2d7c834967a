// A real aijobs server for the Node client tests: built from this checkout,
// run on a free loopback port with SQLite in a temporary directory and the
// offline provider, stopped (and its directory removed) when the test ends.
//
// Environment:
//   KEEP_TMP=1   keep the temporary directory (binary, database, server log)
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (the Go module). */
export const repoRoot = path.resolve(here, '..', '..');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Polls until `cond()` returns a truthy value, or throws after timeoutMs.
 */
export async function until(what, cond, timeoutMs = 30000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** One aijobs process and what the tests need to talk to it. */
export class AijobsServer {
  constructor() {
    this.tmp = '';
    this.bin = '';
    this.port = 0;
    this.base = '';
    this.proc = null;
    this.log = '';
  }

  /** Builds the binary and starts `aijobs serve`. */
  async start() {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aijobs-node-e2e-'));
    this.bin = path.join(this.tmp, 'aijobs');
    this.log = path.join(this.tmp, 'server.log');
    try {
      await run('go', ['build', '-o', this.bin, './cmd/aijobs'], { cwd: repoRoot, maxBuffer: 16 << 20 });
    } catch (err) {
      throw new Error(`go build ./cmd/aijobs failed: ${err.stderr || err.message}`);
    }
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    await this.spawn();
  }

  /** Starts the process (again) on the same port and data directory. */
  async spawn() {
    const out = fs.openSync(this.log, 'a');
    this.proc = spawn(this.bin, [
      'serve', '--addr', `127.0.0.1:${this.port}`, '--data-dir', path.join(this.tmp, 'data'),
      '--offline-chunk-delay', '10ms',
      // A short drain, so a restart interrupts a slow job and the clients
      // must follow it across the restart (the default lets it finish).
      '--shutdown-timeout', '500ms',
    ], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const proc = this.proc;
    await until('aijobs serve to be ready', async () => {
      if (proc.exitCode !== null) {
        throw new Error(`aijobs serve exited with ${proc.exitCode} before it was ready:\n${this.logTail()}`);
      }
      try {
        return (await fetch(`${this.base}/readyz`)).status === 200;
      } catch {
        return false;
      }
    }, 30000, 100);
  }

  /** Stops the process gracefully (SIGTERM), as a deploy would. */
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30000);
    await exited;
    clearTimeout(timer);
  }

  /** A graceful restart: stop, then start on the same port and data. */
  async restart() {
    await this.stop();
    await this.spawn();
  }

  /** Stops the server and removes its directory (unless KEEP_TMP=1). */
  async close() {
    await this.stop();
    if (this.tmp && !process.env.KEEP_TMP) fs.rmSync(this.tmp, { recursive: true, force: true });
    else if (this.tmp) console.log(`kept ${this.tmp}`);
  }

  logTail(lines = 60) {
    if (!this.log || !fs.existsSync(this.log)) return '(no server log)';
    return fs.readFileSync(this.log, 'utf8').split('\n').slice(-lines).join('\n');
  }

  /** Creates a user (if needed) and returns a new API token for it. */
  async token(user) {
    const { stdout } = await run(this.bin, ['token', 'create', '--user', user, '--data-dir', path.join(this.tmp, 'data')]);
    return stdout.trim();
  }

  /** A JSON request with the API token; returns { status, body }. */
  async api(token, method, urlPath, body) {
    const res = await fetch(this.base + urlPath, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** Submits an AI request and returns the 202 body (job_id, stream_token…). */
  async submit(token, input) {
    const { status, body } = await this.api(token, 'POST', '/api/v1/ai/proxy', { input });
    if (status !== 202) throw new Error(`submit: ${status} ${JSON.stringify(body)}`);
    return body;
  }

  /** The job's snapshot. */
  async job(token, id) {
    const { status, body } = await this.api(token, 'GET', `/api/v1/jobs/${id}`);
    if (status !== 200) throw new Error(`get ${id}: ${status} ${JSON.stringify(body)}`);
    return body;
  }

  /** A stream token for all of the user's streams. */
  async userStreamToken(token) {
    const { status, body } = await this.api(token, 'POST', '/api/v1/stream_tokens');
    if (status !== 200) throw new Error(`stream token: ${status}`);
    return body.stream_token;
  }
}

/**
 * Checks one job's SSE events: ids are the seqs, each one more than the one
 * before, none after the terminal one, which is last.
 */
export function checkJobEvents(assert, events) {
  checkTerminalOnLast(assert, events);
  const ids = events.map((e) => `${e.id}:${e.type}`).join(' ');
  events.forEach((e, i) => {
    assert.equal(String(e.seq), e.id, `event ${i}: id ${e.id} but seq ${e.seq} (${ids})`);
    if (i > 0) assert.equal(Number(e.id), Number(events[i - 1].id) + 1, `ids not contiguous at ${i}: ${ids}`);
  });
}

/**
 * Checks one job's events or snapshots as a client that stops on `terminal`
 * sees them: every one carries the boolean, and it is true exactly on the
 * last.
 */
export function checkTerminalOnLast(assert, events) {
  assert.ok(events.length > 0, 'no events');
  const seen = events.map((e) => `${e.seq}:${e.type ?? e.status}:${e.terminal}`).join(' ');
  events.forEach((e, i) => {
    assert.equal(typeof e.terminal, 'boolean', `event ${i} has no terminal field: ${seen}`);
    assert.equal(e.terminal, i === events.length - 1, `event ${i} terminal=${e.terminal}: ${seen}`);
  });
}

/**
 * Submits three jobs that end each way — completed, failed ([[offline:fatal]])
 * and cancelled (a [[offline:slow]] one, cancelled once it works) — and
 * returns their ids by how they end. onSubmit gets each job's submit answer
 * as soon as it is known, before the job ends.
 */
export async function submitEachEnd(srv, token, onSubmit = () => {}) {
  const submit = async (input) => {
    const job = await srv.submit(token, input);
    await onSubmit(job);
    return job;
  };
  const completed = await submit('I want to read 20 books this year');
  const failed = await submit('[[offline:fatal]] this one fails');
  const cancelled = await submit('Write a long story about a lighthouse keeper [[offline:slow]]');
  await until('the slow job to work', async () => {
    const j = await srv.job(token, cancelled.job_id);
    return j.status === 'working' && j.progress > 0;
  }, 30000);
  const { status } = await srv.api(token, 'POST', `/api/v1/jobs/${cancelled.job_id}/cancel`);
  if (status !== 200) throw new Error(`cancel: ${status}`);
  return { completed: completed.job_id, failed: failed.job_id, cancelled: cancelled.job_id };
}

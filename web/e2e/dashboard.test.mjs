// End-to-end test of the web dashboard: builds and starts the real aijobs
// server (offline provider, SQLite in a temporary directory), drives the page
// in Debian's Chromium with playwright-core, and clicks through what a person
// does: paste a token, submit a goal and watch it stream to a rendered SMART
// goal, submit a slow request and cancel it from the jobs list.
//
//   cd web/e2e && npm ci && npm test
//
// Environment:
//   SCREENSHOT_DIR   where screenshots go (default: <repo>/screenshots)
//   CHROMIUM_PATH    the browser (default: /usr/bin/chromium; apt-get install chromium)
//   CI=true          a missing Chromium fails the test instead of skipping it
//   AIJOBS_BASE_URL + AIJOBS_TOKEN   use an already running server instead of building one
//   KEEP_TMP=1       keep the temporary data directory and server log
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = path.resolve(process.env.SCREENSHOT_DIR || path.join(repoRoot, 'screenshots'));
const IN_CI = process.env.CI === 'true';
const haveChromium = fs.existsSync(CHROMIUM);
const skip = !haveChromium && !IN_CI
  ? `Chromium not found at ${CHROMIUM}: install it with "apt-get install chromium" to run the dashboard e2e test`
  : false;

const GOAL_INPUT = 'I want to run a marathon by June';
const SLOW_INPUT = 'Plan my week, step by step [[offline:slow]]';

/** The server under test, the browser and what the page logged. */
const env = {
  tmp: '', base: '', token: '', server: null, serverLog: '', browser: null, page: null,
  pageErrors: [],
};

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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function serverLogTail(lines = 60) {
  if (!env.serverLog || !fs.existsSync(env.serverLog)) return '(no server log)';
  return fs.readFileSync(env.serverLog, 'utf8').split('\n').slice(-lines).join('\n');
}

async function waitReady(base, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) {
      throw new Error(`aijobs serve exited with ${proc.exitCode} before it was ready:\n${serverLogTail()}`);
    }
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(200);
  }
  throw new Error(`GET /readyz not 200 after ${timeoutMs} ms (${last}):\n${serverLogTail()}`);
}

async function startServer() {
  env.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aijobs-e2e-'));
  const bin = path.join(env.tmp, 'aijobs');
  const dataDir = path.join(env.tmp, 'data');
  fs.mkdirSync(dataDir);
  await run('go', ['build', '-o', bin, './cmd/aijobs'], { cwd: repoRoot, maxBuffer: 16 << 20, timeout: 10 * 60e3 })
    .catch((err) => { throw new Error(`go build failed:\n${err.stderr || err.message}`); });

  const port = await freePort();
  env.base = `http://127.0.0.1:${port}`;
  env.serverLog = path.join(env.tmp, 'server.log');
  const log = fs.openSync(env.serverLog, 'a');
  env.server = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, '--offline-chunk-delay', '30ms'],
    { cwd: env.tmp, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  await waitReady(env.base, env.server, 60e3);

  const { stdout } = await run(bin, ['token', 'create', '--user', 'e2e', '--data-dir', dataDir], { timeout: 60e3 })
    .catch((err) => { throw new Error(`token create failed:\n${err.stderr || err.message}`); });
  env.token = stdout.trim().split('\n').pop().trim();
  assert.ok(env.token, 'aijobs token create printed no token');
}

async function stopServer() {
  const p = env.server;
  if (!p || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 10e3);
  await exited;
  clearTimeout(t);
}

/** waitForText waits until selector's text matches re, and says what it was if not. */
async function waitForText(page, selector, re, timeout = 30e3) {
  try {
    await page.waitForFunction(([sel, src, flags]) => {
      const e = document.querySelector(sel);
      return Boolean(e) && new RegExp(src, flags).test(e.textContent);
    }, [selector, re.source, re.flags], { timeout });
  } catch (err) {
    const now = await page.locator(selector).first().textContent().catch(() => '(missing)');
    throw new Error(`${selector}: text ${JSON.stringify(now)} does not match ${re} after ${timeout} ms\n` +
      `server log:\n${serverLogTail(20)}`, { cause: err });
  }
}

async function shot(name) {
  const file = path.join(SHOTS, `${name}.png`);
  await env.page.screenshot({ path: file, fullPage: true });
  return file;
}

async function apiGet(p) {
  const res = await fetch(env.base + p, { headers: { Authorization: `Bearer ${env.token}` } });
  return { status: res.status, body: await res.json().catch(() => null), headers: res.headers };
}

describe('web dashboard', { skip, timeout: 15 * 60e3 }, () => {
  before(async () => {
    assert.ok(haveChromium, `CI=true and Chromium is missing at ${CHROMIUM}: apt-get install chromium`);
    fs.mkdirSync(SHOTS, { recursive: true });
    if (process.env.AIJOBS_BASE_URL) {
      env.base = process.env.AIJOBS_BASE_URL.replace(/\/$/, '');
      env.token = process.env.AIJOBS_TOKEN || '';
      await waitReady(env.base, null, 10e3);
    } else {
      await startServer();
    }
    env.browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await env.browser.newContext({ viewport: { width: 1100, height: 900 } });
    context.setDefaultTimeout(30e3);
    env.page = await context.newPage();
    env.page.on('pageerror', (err) => env.pageErrors.push(`pageerror: ${err.message}`));
    env.page.on('console', (msg) => { if (msg.type() === 'error') env.pageErrors.push(`console: ${msg.text()}`); });
  }, { timeout: 12 * 60e3 });

  after(async () => {
    await env.browser?.close().catch(() => {});
    await stopServer();
    if (env.tmp && !process.env.KEEP_TMP) fs.rmSync(env.tmp, { recursive: true, force: true });
    else if (env.tmp) console.log(`kept ${env.tmp} (server log: ${env.serverLog})`);
  });

  it('serves the page with a strict Content-Security-Policy', async () => {
    const res = await fetch(`${env.base}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const csp = res.headers.get('content-security-policy') || '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const js = await fetch(`${env.base}/static/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
  });

  it('keeps the pasted token in sessionStorage only', async () => {
    const { page } = env;
    await page.goto(`${env.base}/`);
    await page.getByLabel('Paste your API token').fill(env.token);
    await page.getByRole('button', { name: 'Use token' }).click();
    await waitForText(page, '#token-state', /token is set/);
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem('aijobs.api_token'),
      local: localStorage.length,
    }));
    assert.equal(stored.session, env.token);
    assert.equal(stored.local, 0, 'nothing may be written to localStorage');
    assert.equal(await page.getByLabel('Paste your API token').inputValue(), '', 'the token field is cleared');
  });

  let goalJobId = '';

  it('submits a goal, streams progress and output, and renders the SMART goal', async () => {
    const { page } = env;
    // Record every change of the progress bar and the output while the job runs.
    await page.evaluate(() => {
      const p = document.getElementById('job-progress');
      const out = document.getElementById('job-output');
      window.__samples = [];
      const rec = () => window.__samples.push({
        id: document.getElementById('job-id').textContent,
        p: p.value,
        out: out.textContent.length,
        status: document.getElementById('job-status').textContent,
      });
      new MutationObserver(rec).observe(p, { attributes: true, attributeFilter: ['value'] });
      new MutationObserver(rec).observe(out, { childList: true, characterData: true, subtree: true });
    });

    await page.getByLabel('Your request').fill(GOAL_INPUT);
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.locator('#job-panel').waitFor({ state: 'visible' });
    await waitForText(page, '#job-id', /^job_/);
    goalJobId = (await page.locator('#job-id').textContent()).trim();
    // The jobs list is refreshed on submit; picture the page once the job is in it.
    await page.locator(`#jobs-body tr[data-job-id="${goalJobId}"]`).waitFor({ state: 'visible' });
    await shot('after-submit');

    await waitForText(page, '#job-status', /^completed$/, 60e3);
    assert.equal(await page.locator('#job-progress').evaluate((e) => e.value), 100);
    // The page stopped on the stream's terminal event: it closed the stream
    // itself (SSE, not the polling fallback).
    await waitForText(page, '#job-transport', /^Finished \(live stream closed\)\.$/, 10e3);

    const samples = (await page.evaluate(() => window.__samples)).filter((s) => s.id === goalJobId);
    const during = samples.filter((s) => s.p > 0 && s.p < 100);
    assert.ok(during.length > 0, `the progress bar showed values between 0 and 100: ${JSON.stringify(samples.slice(0, 20))}`);
    assert.ok(during.some((s) => s.out > 0), 'output streamed in while the job was in progress');
    for (let i = 1; i < samples.length; i++) {
      assert.ok(samples[i].p >= samples[i - 1].p, `progress never goes back: ${samples[i - 1].p} → ${samples[i].p}`);
    }
    assert.ok((await page.locator('#job-output').textContent()).length > 20, 'the streamed output is shown');

    const result = page.locator('#job-result [data-intent="smart_goal"]');
    await result.waitFor({ state: 'visible' });
    assert.ok((await result.locator('[data-field="goal"]').textContent()).trim().length > 0, 'goal shown');
    const terms = await result.locator('dl.smart dt').allTextContents();
    for (const t of ['Specific', 'Measurable', 'Achievable', 'Relevant', 'Time-bound']) {
      assert.ok(terms.some((x) => x.includes(t)), `${t} shown (got ${terms.join(', ')})`);
    }
    assert.ok(await result.locator('ol.milestones > li').count() >= 1, 'milestones listed');

    const row = page.locator(`#jobs-body tr[data-job-id="${goalJobId}"]`);
    await waitForText(page, `#jobs-body tr[data-job-id="${goalJobId}"] .badge`, /^completed$/);
    assert.equal(await row.getByRole('button', { name: /^Cancel job/ }).count(), 0, 'no Cancel on a finished job');
    await waitForText(page, '#usage-requests', /^[1-9]/);
    assert.equal(await page.locator('#announcer').textContent(), 'Job completed.');
    await shot('completed');
  });

  it('cancels a running job from the jobs list', async () => {
    const { page } = env;
    await page.getByLabel('Your request').fill(SLOW_INPUT);
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForFunction((prev) => {
      const t = document.getElementById('job-id').textContent;
      return t.startsWith('job_') && t !== prev;
    }, goalJobId);
    const id = (await page.locator('#job-id').textContent()).trim();
    await waitForText(page, '#job-status', /^working$/, 30e3);
    assert.equal(await page.locator('#job-result').evaluate((e) => e.childElementCount), 0,
      "the previous job's result is not shown under the new, working job");
    // Let some output stream in first: it stays visible after the cancel.
    await page.waitForFunction(() => document.getElementById('job-output').textContent.length > 0 &&
      document.getElementById('job-progress').value > 0, null, { timeout: 30e3 });

    const row = page.locator(`#jobs-body tr[data-job-id="${id}"]`);
    await row.waitFor({ state: 'visible' });
    await row.getByRole('button', { name: `Cancel job ${id}` }).click();

    await waitForText(page, '#job-status', /^cancelled$/, 30e3);
    const outcome = page.locator('#job-result [data-outcome="cancelled"]');
    await outcome.waitFor({ state: 'visible' });
    assert.match(await outcome.textContent(), /^Cancelled: .+/);
    await waitForText(page, `#jobs-body tr[data-job-id="${id}"] .badge`, /^cancelled$/);
    assert.equal(await row.getByRole('button', { name: /^Cancel job/ }).count(), 0);
    assert.match(await page.locator('#announcer').textContent(), /^Job cancelled\./);
    assert.ok((await page.locator('#job-output').textContent()).length > 0, 'the output streamed before the cancel stays');
    await shot('cancelled');

    // A cancelled job never later becomes completed.
    await sleep(1500);
    const { status, body } = await apiGet(`/api/v1/jobs/${id}`);
    assert.equal(status, 200);
    assert.equal(body.status, 'cancelled');
    assert.equal(body.terminal, true);
    await waitForText(page, '#job-status', /^cancelled$/, 1000);
  });

  it('falls back to polling when the stream cannot be opened, and renders a prioritization', async () => {
    const { page } = env;
    const errorsBefore = env.pageErrors.length;
    const blocked = [];
    const block = (route) => { blocked.push(route.request().url()); return route.abort(); };
    await page.route('**/api/v1/jobs/*/events?*', block);
    try {
      await page.getByLabel('Your request').fill('Prioritize my tasks:\n- file taxes\n- email Bob\n- buy milk');
      await page.getByRole('button', { name: 'Submit' }).click();
      await waitForText(page, '#job-transport', /polling/i, 10e3);
      await waitForText(page, '#job-status', /^completed$/, 60e3);
    } finally {
      await page.unroute('**/api/v1/jobs/*/events?*', block);
    }
    // The aborted stream requests are logged by the browser, as they should be.
    const added = env.pageErrors.splice(errorsBefore);
    env.pageErrors.push(...added.filter((e) => !/net::ERR_FAILED/.test(e)));
    assert.ok(blocked.length >= 1, 'the page tried the SSE stream first');
    const result = page.locator('#job-result [data-intent="prioritization"]');
    await result.waitFor({ state: 'visible' });
    const tasks = await result.locator('ol.tasks > li').allTextContents();
    assert.equal(tasks.length, 3, `three tasks listed: ${tasks.join(' | ')}`);
    assert.match(tasks[0], /priority 1/, 'ordered by priority, 1 first');
    assert.ok((await result.locator('[data-field="summary"]').textContent()).trim().length > 0, 'summary shown');
    assert.equal(await page.locator('#job-progress').evaluate((e) => e.value), 100);
    await shot('prioritized-polling');
  });

  it('shows the error message and code of a failed job, and a general answer', async () => {
    const { page } = env;
    await page.getByLabel('Your request').fill('Why is the sky blue? [[offline:fatal]]');
    await page.getByRole('button', { name: 'Submit' }).click();
    await waitForText(page, '#job-status', /^failed$/, 60e3);
    const outcome = page.locator('#job-result [data-outcome="failed"]');
    await outcome.waitFor({ state: 'visible' });
    assert.match(await outcome.textContent(), /^Failed: .+\(code bad_request\)/);
    assert.match(await page.locator('#announcer').textContent(), /^Job failed\./);
    await shot('failed');

    await page.getByLabel('Your request').fill('Why is the sky blue?');
    await page.getByRole('button', { name: 'Submit' }).click();
    await waitForText(page, '#job-status', /^completed$/, 60e3);
    const result = page.locator('#job-result [data-intent="general"]');
    await result.waitFor({ state: 'visible' });
    assert.ok((await result.locator('[data-field="answer"]').textContent()).trim().length > 0, 'answer shown');
    assert.ok(await result.locator('ul > li').count() >= 1, 'key points listed');
  });

  it("shows only the last attempt's output of a retried or re-asked job (the client's fold, from vendor/)", async () => {
    const { page } = env;
    await page.evaluate(() => {
      window.__retrySamples = [];
      const out = document.getElementById('job-output');
      new MutationObserver(() => window.__retrySamples.push(out.textContent.length))
        .observe(out, { childList: true, characterData: true, subtree: true });
    });
    // [[offline:flaky]]: attempt 1 streams half an answer and fails (retryable), attempt 2 succeeds.
    // [[offline:invalid]]: the first answer does not validate and the model is asked again within
    // the same attempt (a working status with the reason). Either way the output starts over.
    for (const [marker, attempt] of [['[[offline:flaky]]', 2], ['[[offline:invalid]]', 1]]) {
      await page.evaluate(() => { window.__retrySamples.length = 0; });
      const before = (await page.locator('#job-id').textContent()).trim();
      await page.getByLabel('Your request').fill(`A SMART goal for swimming a mile ${marker}`);
      await page.getByRole('button', { name: 'Submit' }).click();
      // The page still shows the job before, completed too: wait for the new one first.
      await page.waitForFunction((old) => {
        const id = document.querySelector('#job-id')?.textContent.trim();
        return Boolean(id) && id !== old;
      }, before, { timeout: 30e3 });
      await waitForText(page, '#job-status', /^completed$/, 60e3);
      await waitForText(page, '#job-transport', /^Finished \(live stream closed\)\.$/, 10e3);
      const id = (await page.locator('#job-id').textContent()).trim();
      const res = await fetch(`${env.base}/api/v1/jobs/${id}`, { headers: { Authorization: `Bearer ${env.token}` } });
      const job = await res.json();
      assert.equal(job.attempt, attempt, `${marker}: completed on attempt ${attempt}`);
      const lens = await page.evaluate(() => window.__retrySamples);
      assert.ok(lens.some((n, i) => i > 0 && n === 0 && lens[i - 1] > 0), `${marker}: the output started over: ${lens.join(',')}`);
      assert.equal(await page.locator('#job-output').textContent(), job.result.text,
        `${marker}: the output shown is the last answer's, not glued to the one before`);
    }
    // The page loads the fold from the bundled client, under the same CSP.
    const vendor = await fetch(`${env.base}/static/vendor/aijobs-client.js`);
    assert.equal(vendor.status, 200);
    assert.match(await vendor.text(), /function foldEvent\(/);
  });

  it('opens a finished job from the list with the keyboard', async () => {
    const { page } = env;
    const open = page.locator(`#jobs-body tr[data-job-id="${goalJobId}"]`).getByRole('button', { name: `Open job ${goalJobId}` });
    await open.focus();
    await page.keyboard.press('Enter');
    await waitForText(page, '#job-id', new RegExp(`^${goalJobId}$`));
    await waitForText(page, '#job-status', /^completed$/);
    await page.locator('#job-result [data-intent="smart_goal"]').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => document.activeElement.id), 'job-heading', 'focus moves to the job panel');
  });

  it('fits a narrow screen', async () => {
    const { page } = env;
    await page.setViewportSize({ width: 360, height: 780 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 360 px (overflow ${overflow} px)`);
    await shot('narrow');
    await page.setViewportSize({ width: 1100, height: 900 });
  });

  it('fits the jobs table in its card at phone and desktop width while a job runs', async () => {
    const { page } = env;
    // A long finished job (a long unbroken request streams a long answer) and a
    // running one that keeps streaming while the page is measured.
    const long = `${'Summarize_this_without_any_spaces_'.repeat(40)} and then some more words to wrap`;
    const shownBefore = (await page.locator('#job-id').textContent()).trim();
    await page.getByLabel('Your request').fill(long);
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForFunction((prev) => {
      const t = document.getElementById('job-id').textContent;
      return t.startsWith('job_') && t !== prev;
    }, shownBefore);
    const doneId = (await page.locator('#job-id').textContent()).trim();
    await waitForText(page, '#job-status', /^completed$/, 60e3);
    await waitForText(page, `#jobs-body tr[data-job-id="${doneId}"] .badge`, /^completed$/);
    await page.getByLabel('Your request').fill(`${long} ${SLOW_INPUT}`);
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForFunction((prev) => {
      const t = document.getElementById('job-id').textContent;
      return t.startsWith('job_') && t !== prev;
    }, doneId);
    const id = (await page.locator('#job-id').textContent()).trim();
    await waitForText(page, '#job-status', /^working$/, 30e3);
    await page.waitForFunction(() => document.getElementById('job-output').textContent.length > 0, null, { timeout: 30e3 });
    const row = page.locator(`#jobs-body tr[data-job-id="${id}"]`);
    await row.getByRole('button', { name: `Cancel job ${id}` }).waitFor({ state: 'visible' });
    await page.locator(`#jobs-body tr[data-job-id="${doneId}"]`).waitFor({ state: 'visible' });

    for (const [name, width, height] of [['jobs-phone', 375, 740], ['jobs-desktop', 1440, 900]]) {
      await page.setViewportSize({ width, height });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const m = await page.evaluate(() => {
        const table = document.getElementById('jobs-table');
        const card = table.closest('.card');
        const t = table.getBoundingClientRect();
        const c = card.getBoundingClientRect();
        const cells = [...table.querySelectorAll('th, td')].map((e) => e.getBoundingClientRect())
          .filter((r) => r.width > 0);
        return {
          tableLeft: t.left, tableRight: t.right, cardLeft: c.left, cardRight: c.right,
          cellRight: Math.max(...cells.map((r) => r.right)),
          scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          cardScroll: card.scrollWidth - card.clientWidth,
          status: document.getElementById('job-status').textContent,
          widest: [...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .slice(0, 3).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`),
        };
      });
      const at = `at ${width}×${height}: ${JSON.stringify(m)}`;
      assert.equal(m.status, 'working', `the job still runs while measured ${at}`);
      assert.ok(m.tableRight <= m.cardRight + 0.5 && m.tableLeft >= m.cardLeft - 0.5, `the table is inside its card ${at}`);
      assert.ok(m.cellRight <= m.cardRight + 0.5, `no cell sticks out of the card ${at}`);
      assert.ok(m.cardScroll <= 0, `the card does not overflow ${at}`);
      assert.ok(m.scrollWidth <= m.innerWidth, `no horizontal scrolling of the page ${at}`);
      // Long ids are cut or wrapped, with the full id at hand.
      assert.equal(await row.locator('code').getAttribute('title'), id);
      await row.scrollIntoViewIfNeeded();
      const file = await shot(name);
      console.log(`screenshot (${width}×${height}, job running): ${file}`);
    }
    await page.setViewportSize({ width: 1100, height: 900 });
    // Leave no job running for the tests after this one.
    const cancel = row.getByRole('button', { name: `Cancel job ${id}` });
    if (await cancel.count()) await cancel.click().catch(() => {});
    await waitForText(page, '#job-status', /^(cancelled|completed)$/, 30e3);
  });

  it('forgets the token', async () => {
    const { page } = env;
    await page.getByRole('button', { name: 'Forget token' }).click();
    await waitForText(page, '#token-state', /^No token set\.$/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('aijobs.api_token')), null);
    assert.equal(await page.locator('#jobs-body tr').count(), 0, 'the jobs list is cleared');
  });

  it('logged no error in the page (CSP violations included)', () => {
    assert.deepEqual(env.pageErrors, []);
  });
});

// The operator page (/ops/) in headless Chromium: while jobs of every kind
// run (completed, failed, retried, cancelled) and streams are open, an admin
// signs in with their token and the page charts GET /api/v1/admin/stats —
// jobs per minute by status, queue depth, p50/p95 wait and run time,
// provider errors, open streams — refreshing itself. A user's token gets
// the data endpoint's 404 (the admin API's answer to anyone but an admin)
// and the page says so. A screenshot of the charts is saved in
// <repo>/screenshots/ (or SCREENSHOT_DIR) and its path printed.
//
//   cd e2e/node && npm ci && node --test ops.test.mjs
//
// Environment:
//   CHROMIUM_PATH   the browser (default: /usr/bin/chromium; apt-get install chromium)
//   SCREENSHOT_DIR  where the screenshot goes (default: <repo>/screenshots)
//   CI=true         a missing Chromium fails the test instead of skipping it
//   KEEP_TMP=1      keep the temporary directory (binary, database, server log)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { AijobsServer, repoRoot, sleep, until } from './server.mjs';

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = path.resolve(process.env.SCREENSHOT_DIR || path.join(repoRoot, 'screenshots'));
const IN_CI = process.env.CI === 'true';
const haveChromium = fs.existsSync(CHROMIUM);
const skip = !haveChromium && !IN_CI
  ? `Chromium not found at ${CHROMIUM}: install it with "apt-get install chromium" to run the operator page test`
  : false;

if (skip) console.log(`# SKIP: ${skip}`);

/**
 * traffic submits jobs that end each way, one after another, and holds a
 * user event stream open, until stop() is called.
 */
function traffic(srv, token) {
  let stopped = false;
  const abort = new AbortController();
  const inputs = [
    'I want to run a marathon by June',
    '[[offline:fatal]] this one fails',
    '[[offline:flaky]] Help me prioritize: taxes, gym, call mum',
    '[[offline:slow]] Plan my week, step by step',
  ];
  const loop = (async () => {
    const stream = await fetch(`${srv.base}/api/v1/events`, { headers: { Authorization: `Bearer ${token}` }, signal: abort.signal });
    stream.body.pipeTo(new WritableStream()).catch(() => {});
    for (let i = 0; !stopped; i++) {
      const job = await srv.submit(token, `${inputs[i % inputs.length]} #${i}`);
      if (i % inputs.length === 3) {
        await sleep(300);
        await srv.api(token, 'POST', `/api/v1/jobs/${job.job_id}/cancel`);
      }
      await sleep(250);
    }
  })();
  return async () => {
    stopped = true;
    await loop.catch(() => {});
    abort.abort();
  };
}

describe('operator page in Chromium', { skip }, () => {
  const srv = new AijobsServer();
  let context;
  let adminToken;
  let userToken;
  let stopTraffic = async () => {};
  const pageErrors = [];

  before(async () => {
    if (!haveChromium) throw new Error(`CI=true and Chromium is missing at ${CHROMIUM}`);
    await srv.start();
    const { stdout } = await run(srv.bin, ['token', 'create', '--user', 'ops', '--admin', '--data-dir', path.join(srv.tmp, 'data')]);
    adminToken = stdout.trim();
    userToken = await srv.token('busy-user');
    const profile = fs.mkdtempSync(path.join(srv.tmp, 'chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await stopTraffic();
    if (context) await context.close();
    await srv.close();
  });

  it('a user token gets 404 from the data endpoint', async () => {
    const { status, body } = await srv.api(userToken, 'GET', '/api/v1/admin/stats');
    assert.equal(status, 404, 'a non-admin is refused');
    assert.equal(body.code, 'not_found');
    const anon = await fetch(`${srv.base}/api/v1/admin/stats`);
    assert.equal(anon.status, 404, 'no credential is refused');
  });

  it('charts live data for an admin, and refuses a user', async () => {
    stopTraffic = traffic(srv, userToken);
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // Console errors (a CSP refusal is one), but for the user token's 404.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/status of 404/.test(msg.text())) pageErrors.push(msg.text());
    });

    const res = await page.goto(`${srv.base}/ops/`);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
    assert.match(await page.textContent('#ops-state'), /Not signed in/);

    // A user's token: the page says it is not an admin's, and shows no chart.
    await page.fill('#ops-token-input', userToken);
    await page.click('#ops-token-form button[type=submit]');
    await page.waitForSelector('#ops-error:not([hidden])', { timeout: 10000 });
    assert.match(await page.textContent('#ops-error'), /not an admin token/);
    assert.equal(await page.isHidden('#ops-charts'), true);

    // The admin's token: six charts, with data, refreshed.
    await page.fill('#ops-token-input', adminToken);
    await page.click('#ops-token-form button[type=submit]');
    await page.waitForSelector('#ops-charts:not([hidden])', { timeout: 10000 });
    assert.equal(await page.locator('.ops-plot canvas').count(), 6, 'one canvas per chart');
    const nowOf = (id) => page.textContent(`#${id} .ops-now`);
    await until('every chart to show data', async () => {
      const stats = (await srv.api(adminToken, 'GET', '/api/v1/admin/stats')).body;
      const any = (xs) => xs.some((v) => v > 0);
      return stats.time.length >= 3 && any(stats.jobs_per_minute.completed) && any(stats.jobs_per_minute.failed) &&
        any(stats.jobs_per_minute.cancelled) && any(stats.provider_errors_per_minute) &&
        stats.wait_seconds.p95.some((v) => v !== null) && stats.run_seconds.p50.some((v) => v !== null) &&
        any(stats.open_streams.user_sse) && stats.queue_depth.queued.some((v) => v !== null);
    }, 60000, 500);
    // The page catches up by itself: its state line changes at the next
    // refresh, and it then charts the buckets the API has.
    const first = await page.textContent('#ops-state');
    await until('the page to refresh itself', async () => (await page.textContent('#ops-state')) !== first, 15000, 200);
    assert.match(await page.textContent('#ops-state'), /Live · updated .* this node/);
    assert.ok(Number(await page.getAttribute('#ops-charts', 'data-buckets')) >= 3, 'three buckets or more charted');
    assert.match(await nowOf('chart-jobs'), /completed \d/);
    assert.match(await nowOf('chart-streams'), /user SSE [1-9]/);
    assert.ok(Number(await page.getAttribute('#ops-charts', 'data-points')) > 10, 'the charts have points above zero');
    // uPlot drew lines: the jobs chart's canvas is not blank.
    const inked = await page.evaluate(() => {
      const c = document.querySelector('#chart-jobs canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    assert.ok(inked > 1000, `the jobs chart's canvas has ${inked} drawn pixels`);

    fs.mkdirSync(SHOTS, { recursive: true });
    const shot = path.join(SHOTS, 'ops.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 20000, 'a screenshot of the charts');
    console.log(`screenshot of the operator page: ${shot}`);
    assert.deepEqual(pageErrors, [], 'no script or CSP errors on the page');
    await page.close();
  });
});

// An admin signs in to River UI through headless Chromium: /riverui/ shows
// the sign-in form (404, no word of River UI), the admin pastes their admin
// token, the server sets an HttpOnly, SameSite=Strict session cookie on
// /riverui, and River UI opens and lists aijobs' River jobs. A screenshot of
// the job list is saved in the test's temporary directory.
//
//   cd e2e/node && npm ci && npm test
//
// Environment:
//   CHROMIUM_PATH  the browser (default: /usr/bin/chromium; apt-get install chromium)
//   CI=true        a missing Chromium fails the test instead of skipping it
//   KEEP_TMP=1     keep the temporary directory (and the screenshot)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { AijobsServer, until } from './server.mjs';

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';
const haveChromium = fs.existsSync(CHROMIUM);
const skip = !haveChromium && !IN_CI
  ? `Chromium not found at ${CHROMIUM}: install it with "apt-get install chromium" to run the River UI sign-in test`
  : false;

if (skip) console.log(`# SKIP: ${skip}`);

describe('River UI sign-in in Chromium', { skip }, () => {
  const srv = new AijobsServer();
  let context;
  let adminToken;
  let userToken;
  const pageErrors = [];

  before(async () => {
    if (!haveChromium) throw new Error(`CI=true and Chromium is missing at ${CHROMIUM}`);
    await srv.start();
    const { stdout } = await run(srv.bin, ['token', 'create', '--user', 'root', '--admin', '--data-dir', path.join(srv.tmp, 'data')]);
    adminToken = stdout.trim();
    userToken = await srv.token('browser-user');
    // A fresh profile in the test's directory.
    const profile = fs.mkdtempSync(path.join(srv.tmp, 'chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    if (context) await context.close();
    await srv.close();
  });

  it('signs in with an admin token and lists the jobs', async () => {
    const job = await srv.submit(userToken, 'I want to read 20 books this year');
    await until('the job to complete', async () => (await srv.job(userToken, job.job_id)).terminal, 30000, 50);

    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));

    // Before sign-in: a bare form, answered with 404, naming nothing.
    const res = await page.goto(`${srv.base}/riverui/`);
    assert.equal(res.status(), 404);
    const before = await page.content();
    assert.match(before, /name="token"/);
    assert.doesNotMatch(before, /river/i, 'the sign-in page names River UI');

    // A user's token is refused.
    await page.fill('#token', userToken);
    await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
    assert.match(await page.textContent('[role=alert]'), /not a valid admin token/);
    assert.equal((await context.cookies(srv.base)).length, 0);

    // The admin's token opens River UI.
    await page.fill('#token', adminToken);
    await Promise.all([page.waitForURL(`${srv.base}/riverui/**`), page.click('button[type=submit]')]);
    const [cookie] = await context.cookies(srv.base + '/riverui/');
    assert.ok(cookie, 'a session cookie');
    assert.equal(cookie.name, 'aijobs_admin');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/riverui');
    assert.ok(!cookie.value.includes(adminToken), 'the cookie holds the token');
    assert.ok(cookie.expires * 1000 <= Date.now() + 3600e3 + 5000, `the session lasts at most an hour: ${cookie.expires}`);
    assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the cookie');

    await until('River UI to load', async () => (await page.title()) === 'River', 30000, 100);
    await page.goto(`${srv.base}/riverui/jobs?state=completed`);
    await page.getByText('aijobs_run').first().waitFor({ timeout: 30000 });
    const shot = path.join(srv.tmp, 'riverui-jobs.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10000, 'a screenshot of the job list');

    // River UI's own API calls go through with the cookie.
    const states = await page.evaluate(async () => (await fetch('/riverui/api/states')).status);
    assert.equal(states, 200);

    // Signing out ends it: the next visit shows the form again.
    await page.goto(`${srv.base}/riverui/signout`);
    await Promise.all([page.waitForURL(`${srv.base}/riverui/`), page.click('button[type=submit]')]);
    assert.match(await page.content(), /name="token"/);
    assert.equal((await context.cookies(srv.base + '/riverui/')).length, 0);
    assert.deepEqual(pageErrors, []);
    await page.close();
  });
});

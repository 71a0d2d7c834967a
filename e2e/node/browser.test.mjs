// Headless Chromium's own EventSource, on the dashboard page served by
// aijobs, following a job with its stream token in the URL: every event
// once, in order, through the terminal one, also across a graceful server
// restart (the browser reconnects by itself with Last-Event-ID), and the
// server's final 204 stops the browser from reconnecting.
//
//   cd e2e/node && npm ci && npm test
//
// Environment:
//   CHROMIUM_PATH  the browser (default: /usr/bin/chromium; apt-get install chromium)
//   CI=true        a missing Chromium fails the test instead of skipping it
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { AijobsServer, checkJobEvents, until } from './server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';
const haveChromium = fs.existsSync(CHROMIUM);
const skip = !haveChromium && !IN_CI
  ? `Chromium not found at ${CHROMIUM}: install it with "apt-get install chromium" to run the browser EventSource test`
  : false;

if (skip) console.log(`# SKIP: ${skip}`);

describe('Chromium EventSource', { skip }, () => {
  const srv = new AijobsServer();
  let browser;
  let page;
  let token;
  const pageErrors = [];

  before(async () => {
    if (!haveChromium) throw new Error(`CI=true and Chromium is missing at ${CHROMIUM}`);
    await srv.start();
    token = await srv.token('browser-user');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const res = await page.goto(`${srv.base}/`);
    assert.equal(res.status(), 200, 'the dashboard is served at /');
  });
  after(async () => {
    if (browser) await browser.close();
    await srv.close();
  });

  /** Opens an EventSource in the page; events land in window.__streams[name]. */
  const open = (name, url) => page.evaluate(({ name, url }) => {
    window.__streams ??= {};
    const st = { events: [], errors: [], closedAfterEnd: false, opens: 0 };
    window.__streams[name] = st;
    const es = new EventSource(url);
    st.es = es;
    es.onopen = () => { st.opens++; };
    es.onmessage = (m) => {
      st.events.push({ id: m.lastEventId, ...JSON.parse(m.data) });
    };
    es.onerror = () => {
      const last = st.events.at(-1);
      const ended = last && last.terminal;
      st.errors.push(es.readyState);
      // EventSource.CLOSED after an error means it will not reconnect: the
      // server answered 204 to the reconnect after the terminal event.
      if (ended && es.readyState === EventSource.CLOSED) st.closedAfterEnd = true;
    };
  }, { name, url });

  const state = (name) => page.evaluate((name) => {
    const { es, ...rest } = window.__streams[name];
    return { ...rest, readyState: es.readyState };
  }, name);

  it('follows a job to the end and stops on the 204', async () => {
    const job = await srv.submit(token, 'I want to run a marathon by June');
    await open('plain', `/api/v1/jobs/${job.job_id}/events?token=${encodeURIComponent(job.stream_token)}`);
    const st = await until('the browser to stop after the end', async () => {
      const s = await state('plain');
      return s.closedAfterEnd && s;
    }, 60000, 100);
    assert.equal(st.events[0].type, 'snapshot');
    checkJobEvents(assert, st.events);
    assert.equal(st.events.at(-1).type, 'completed');
    const final = await srv.job(token, job.job_id);
    assert.equal(st.events.at(-1).id, String(final.seq));
    assert.deepEqual(pageErrors, []);
  });

  it('resumes across a server restart with Last-Event-ID', async () => {
    const job = await srv.submit(token, 'Write a long story about a lighthouse keeper [[offline:slow]]');
    await open('restart', `/api/v1/jobs/${job.job_id}/events?token=${encodeURIComponent(job.stream_token)}`);
    await until('a few events', async () => (await state('restart')).events.length >= 3, 30000, 50);
    await srv.restart();
    const st = await until('the browser to stop after the end', async () => {
      const s = await state('restart');
      return s.closedAfterEnd && s;
    }, 90000, 100);
    assert.ok(st.opens >= 2, `the browser reconnected (${st.opens} opens)`);
    // One snapshot at the start only: the reconnect resumed from its
    // Last-Event-ID instead of starting over.
    assert.equal(st.events.filter((e) => e.type === 'snapshot').length, 1);
    checkJobEvents(assert, st.events);
    const final = await srv.job(token, job.job_id);
    assert.equal(st.events.at(-1).id, String(final.seq));
  });
});

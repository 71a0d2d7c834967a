// The npm `eventsource` client (the WHATWG EventSource for Node) following a
// job through its stream token in the URL, as a browser would: the
// connection is cut mid-stream, the client reconnects by itself with
// Last-Event-ID, and the events it sees are every seq once, in order,
// through the terminal one; then the server's 204 stops it for good.
//
//   cd e2e/node && npm ci && npm test
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { AijobsServer, checkJobEvents, checkTerminalOnLast, sleep, submitEachEnd, until } from './server.mjs';

/**
 * A fetch for EventSource whose first response is cut after `cutAfter`
 * blank-line-terminated blocks (the first block is the "retry:" line), like
 * a dropped connection. It records every request's Last-Event-ID.
 */
function droppingFetch(cutAfter, requests) {
  let calls = 0;
  return async (url, init) => {
    requests.push({ lastEventId: new Headers(init.headers).get('Last-Event-ID') });
    const res = await fetch(url, init);
    if (calls++ > 0 || !res.body) return res;
    const upstream = res.body.getReader();
    let blocks = 0;
    let prev = 0;
    let drop = false;
    const body = new ReadableStream({
      async pull(ctrl) {
        if (drop) {
          await upstream.cancel();
          ctrl.error(new TypeError('simulated network drop'));
          return;
        }
        const { done, value } = await upstream.read();
        if (done) {
          ctrl.close();
          return;
        }
        for (let i = 0; i < value.length; i++) {
          if (value[i] === 10 && prev === 10 && ++blocks === cutAfter) {
            ctrl.enqueue(value.slice(0, i + 1));
            drop = true;
            return;
          }
          prev = value[i];
        }
        ctrl.enqueue(value);
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/**
 * A client that does only what the README says: it follows a stream and
 * stops following a job on the first event whose `terminal` is true; once
 * every job it waits for has ended, it closes the stream itself. It counts
 * the HTTP requests, so a test can tell that it never needed the server's
 * end of stream or a reconnect to stop.
 */
const clients = [];
function readmeClient(url) {
  const requests = [];
  const es = new EventSource(url, {
    fetch: (u, init) => {
      requests.push(String(u));
      return fetch(u, init);
    },
  });
  const byJob = new Map();
  const ended = new Set();
  const late = []; // events of a job after its terminal one: there must be none
  let wanted = null;
  let stopped = false;
  const check = () => {
    if (!stopped && wanted && wanted.every((id) => ended.has(id))) {
      es.close();
      stopped = true;
    }
  };
  es.onmessage = (m) => {
    const ev = { id: m.lastEventId, ...JSON.parse(m.data) };
    if (ended.has(ev.job_id)) {
      late.push(ev);
      return;
    }
    if (!byJob.has(ev.job_id)) byJob.set(ev.job_id, []);
    byJob.get(ev.job_id).push(ev);
    if (ev.terminal) {
      ended.add(ev.job_id);
      check();
    }
  };
  clients.push(es);
  return {
    es, requests, byJob, late,
    /** Resolves once every job in ids has sent its terminal event and the client has stopped. */
    stopsAfter(ids) {
      wanted = ids;
      check();
      return until(`a terminal event for each of ${ids}`, () => stopped, 60000);
    },
  };
}

describe('npm eventsource', () => {
  const srv = new AijobsServer();
  let token;

  before(async () => {
    await srv.start();
    token = await srv.token('es-user');
  });
  after(async () => {
    for (const es of clients) es.close();
    await srv.close();
  });

  it('resumes by Last-Event-ID after a drop and sees every event once, through the end', async () => {
    const job = await srv.submit(token, 'Plan my week, step by step [[offline:slow]]');
    assert.match(job.stream_token, /^st_/);
    const requests = [];
    const events = [];
    const errors = [];
    const es = new EventSource(`${srv.base}/api/v1/jobs/${job.job_id}/events?token=${encodeURIComponent(job.stream_token)}`, {
      fetch: droppingFetch(4, requests), // retry + 3 events
    });
    try {
      es.onmessage = (m) => {
        const data = JSON.parse(m.data);
        events.push({ id: m.lastEventId, ...data });
      };
      es.onerror = (e) => errors.push({ code: e.code, message: e.message, readyState: es.readyState });
      // After the terminal event the server ends the stream; the client
      // reconnects once more with the last id and the 204 closes it.
      await until('the stream to end with the 204', () => es.readyState === es.CLOSED, 60000);
    } finally {
      es.close();
    }
    assert.ok(events.length > 4, `only ${events.length} events`);
    assert.equal(events[0].type, 'snapshot');
    assert.equal(events[0].job.job_id, job.job_id);
    checkJobEvents(assert, events);

    // One request without a position, one resuming after the third event,
    // one after the terminal event (answered 204).
    assert.ok(requests.length >= 3, JSON.stringify(requests));
    assert.equal(requests[0].lastEventId, null);
    assert.equal(requests[1].lastEventId, events[2].id, 'the reconnect resumes after the last event received');
    assert.equal(requests.at(-1).lastEventId, events.at(-1).id);
    assert.ok(errors.some((e) => e.code === 204), `errors: ${JSON.stringify(errors)}`);

    const final = await srv.job(token, job.job_id);
    assert.equal(final.status, 'completed');
    assert.equal(String(final.seq), events.at(-1).id);
    assert.equal(events.at(-1).type, 'completed');
  });

  it('a client that stops on terminal stops at each job\'s end: job streams and /api/v1/events', async () => {
    const user = readmeClient(`${srv.base}/api/v1/events?token=${encodeURIComponent(await srv.userStreamToken(token))}`);
    const perJob = new Map();
    const ids = await submitEachEnd(srv, token, (job) => {
      // Each job's own stream, opened as soon as the job exists, from 0.
      perJob.set(job.job_id, readmeClient(
        `${srv.base}/api/v1/jobs/${job.job_id}/events?token=${encodeURIComponent(job.stream_token)}&after=0`));
    });
    const all = Object.values(ids);
    await Promise.all([user.stopsAfter(all), ...all.map((id) => perJob.get(id).stopsAfter([id]))]);
    await sleep(2500); // longer than the server's retry: 2000, so a reconnect would have happened
    for (const [end, id] of Object.entries(ids)) {
      const final = await srv.job(token, id);
      assert.equal(final.status, end);
      for (const [what, c] of [['job stream', perJob.get(id)], ['user stream', user]]) {
        const evs = c.byJob.get(id);
        checkTerminalOnLast(assert, evs);
        assert.equal(evs.at(-1).type, end, `${end} job on the ${what}: the terminal event is ${evs.at(-1).type}`);
        assert.equal(evs.at(-1).seq, final.seq, `${end} job on the ${what}: stopped at seq ${evs.at(-1).seq}, the job ended at ${final.seq}`);
      }
      const own = perJob.get(id);
      checkJobEvents(assert, own.byJob.get(id));
      assert.equal(own.byJob.get(id)[0].seq, 1, 'the job stream from 0 replays the whole log');
      assert.equal(own.requests.length, 1, `${end} job stream: the client stopped on terminal, without a reconnect: ${own.requests}`);
      assert.equal(own.es.readyState, own.es.CLOSED);
    }
    assert.deepEqual(user.late, [], 'no event of a job after its terminal one');
    assert.equal(user.requests.length, 1, `the user stream needed no reconnect: ${user.requests}`);
  });

  it('refuses an API token in the URL', async () => {
    const job = await srv.submit(token, 'hello');
    const errors = [];
    const es = new EventSource(`${srv.base}/api/v1/jobs/${job.job_id}/events?token=${encodeURIComponent(token)}`);
    es.onerror = (e) => errors.push(e.code);
    try {
      await until('the error', () => errors.length > 0, 10000);
    } finally {
      es.close();
    }
    assert.equal(errors[0], 401);
  });
});

// The real @rails/actioncable client, run in Node over the `ws` package,
// against /cable: the original system's planned client code,
// consumer.subscriptions.create("AiJobChannel", { received }), works
// unchanged; a job's snapshots arrive through completion; another user's job
// is rejected; after a graceful server restart the client reconnects by
// itself and catches up.
//
//   cd e2e/node && npm ci && npm test
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { adapters, createConsumer, logger } from '@rails/actioncable';
import { AijobsServer, checkTerminalOnLast, submitEachEnd, until } from './server.mjs';

// What a browser has and Node lacks: the WebSocket class, and the
// listeners the connection monitor registers for visibilitychange.
adapters.WebSocket = WebSocket;
globalThis.addEventListener ??= () => {};
globalThis.removeEventListener ??= () => {};
logger.enabled = Boolean(process.env.DEBUG);

/** Subscribes and collects what the subscription's callbacks see. */
function follow(consumer, params) {
  const seen = { connected: 0, rejected: 0, disconnected: 0, received: [] };
  const subscription = consumer.subscriptions.create(params, {
    connected() { seen.connected++; },
    disconnected() { seen.disconnected++; },
    rejected() { seen.rejected++; },
    received(data) { seen.received.push(data); },
  });
  return { seen, subscription };
}

/** Checks snapshots of one job: seqs only rise, the last is terminal. */
function checkSnapshots(snaps, jobId) {
  assert.ok(snaps.length > 0, 'no snapshots');
  snaps.forEach((s, i) => {
    assert.equal(s.job_id, jobId);
    if (i > 0) assert.ok(s.seq > snaps[i - 1].seq, `seq ${s.seq} after ${snaps[i - 1].seq}`);
    assert.equal(s.terminal, i === snaps.length - 1, `snapshot ${i} terminal=${s.terminal}`);
  });
}

describe('@rails/actioncable over ws', () => {
  const srv = new AijobsServer();
  const consumers = [];
  let token;
  let other;

  const consumer = (streamToken) => {
    const c = createConsumer(`ws://127.0.0.1:${srv.port}/cable?token=${encodeURIComponent(streamToken)}`);
    consumers.push(c);
    return c;
  };

  before(async () => {
    await srv.start();
    token = await srv.token('cable-user');
    other = await srv.token('cable-other');
  });
  after(async () => {
    for (const c of consumers) c.disconnect();
    await srv.close();
  });

  it('follows one job through completion with its stream token', async () => {
    const job = await srv.submit(token, 'I want to run a marathon by June [[offline:slow]]');
    const { seen } = follow(consumer(job.stream_token), { channel: 'AiJobChannel', job_id: job.job_id });
    await until('the terminal snapshot', () => seen.received.some((s) => s.terminal), 60000);
    checkSnapshots(seen.received, job.job_id);
    const last = seen.received.at(-1);
    const final = await srv.job(token, job.job_id);
    assert.equal(last.status, 'completed');
    assert.equal(last.progress, 100);
    assert.equal(last.seq, final.seq);
    assert.deepEqual(last.result, final.result);
    assert.equal(last.result.intent, final.result.intent);
    assert.ok(last.result.usage_info, 'result.usage_info');
    // The client re-sends subscribe until confirmed; it was confirmed once.
    assert.equal(seen.connected, 1);
    assert.equal(seen.rejected, 0);
  });

  it('works with the original client code: create("AiJobChannel", { received })', async () => {
    const c = consumer(await srv.userStreamToken(token));
    const received = [];
    let connected = false;
    c.subscriptions.create('AiJobChannel', {
      connected() { connected = true; },
      received(data) { received.push(data); },
    });
    await until('the subscription to be confirmed', () => connected, 20000);
    const job = await srv.submit(token, 'Plan my week');
    const theirs = await srv.submit(other, 'another user\'s plan');
    await until('the job to complete', () => received.some((s) => s.job_id === job.job_id && s.terminal), 60000);
    checkSnapshots(received.filter((s) => s.job_id === job.job_id), job.job_id);
    assert.ok(!received.some((s) => s.job_id === theirs.job_id), 'saw another user\'s job');
  });

  it('rejects another user\'s job, and the connection lives on', async () => {
    const theirs = await srv.submit(other, 'private');
    const c = consumer(await srv.userStreamToken(token));
    const bad = follow(c, { channel: 'AiJobChannel', job_id: theirs.job_id });
    const unknown = follow(c, { channel: 'NoSuchChannel' });
    await until('the rejections', () => bad.seen.rejected && unknown.seen.rejected, 20000);
    assert.equal(bad.seen.connected, 0);
    assert.equal(bad.seen.received.length, 0);
    const mine = await srv.submit(token, 'mine');
    const good = follow(c, { channel: 'AiJobChannel', job_id: mine.job_id });
    await until('my job to complete', () => good.seen.received.some((s) => s.terminal), 60000);
    checkSnapshots(good.seen.received, mine.job_id);
  });

  it('a client that stops on terminal stops at each job\'s end: job and user subscriptions', async () => {
    // What the README says, and nothing else: stop following a job on the
    // first message whose terminal is true.
    const followUntilTerminal = (c, params, jobs) => {
      const st = { byJob: new Map(), ended: new Set(), late: [], sub: null, connected: false, stopped: false, wanted: jobs };
      st.sub = c.subscriptions.create(params, {
        connected() { st.connected = true; },
        received(s) {
          if (st.ended.has(s.job_id)) return st.late.push(s);
          if (!st.byJob.has(s.job_id)) st.byJob.set(s.job_id, []);
          st.byJob.get(s.job_id).push(s);
          if (s.terminal) st.ended.add(s.job_id);
          st.check();
        },
      });
      st.check = () => {
        if (!st.stopped && st.wanted && st.wanted.every((id) => st.ended.has(id))) {
          st.sub.unsubscribe();
          st.stopped = true;
        }
      };
      return st;
    };
    const user = followUntilTerminal(consumer(await srv.userStreamToken(token)), 'AiJobChannel', null);
    await until('the user subscription to be confirmed', () => user.connected, 20000);
    const perJob = new Map();
    const ids = await submitEachEnd(srv, token, (job) => {
      perJob.set(job.job_id, followUntilTerminal(consumer(job.stream_token), { channel: 'AiJobChannel', job_id: job.job_id }, [job.job_id]));
    });
    user.wanted = Object.values(ids);
    user.check();
    await until('every follower to stop on terminal', () => user.stopped && [...perJob.values()].every((st) => st.stopped), 60000);
    for (const [end, id] of Object.entries(ids)) {
      const final = await srv.job(token, id);
      assert.equal(final.status, end);
      for (const [what, st] of [['job subscription', perJob.get(id)], ['user subscription', user]]) {
        const snaps = st.byJob.get(id);
        checkTerminalOnLast(assert, snaps);
        checkSnapshots(snaps, id);
        assert.equal(snaps.at(-1).status, end, `${end} job on the ${what}`);
        assert.equal(snaps.at(-1).seq, final.seq, `${end} job on the ${what}: stopped at seq ${snaps.at(-1).seq}, the job ended at ${final.seq}`);
      }
    }
    assert.deepEqual(user.late, [], 'no message of a job after its terminal one');
  });

  it('reconnects after a graceful restart and catches up', async () => {
    const job = await srv.submit(token, 'Write a long story about a lighthouse keeper [[offline:slow]]');
    const c = consumer(job.stream_token);
    const { seen } = follow(c, { channel: 'AiJobChannel', job_id: job.job_id });
    await until('a few snapshots', () => seen.received.length >= 2, 30000);
    await srv.restart(); // the server says disconnect server_restart, reconnect: true
    await until('the disconnect', () => seen.disconnected > 0, 10000);
    const before = seen.received.length;
    // The client's monitor reopens the socket (about 6 s later), gets a new
    // welcome, subscribes again and receives the current snapshot onward.
    await until('the terminal snapshot after the restart', () => seen.received.some((s) => s.terminal), 90000);
    assert.equal(seen.connected, 2, 'confirmed once per connection');
    // Within a connection seqs rise; the new connection starts with the
    // current snapshot, which may equal the last one seen before.
    checkSnapshots(seen.received.slice(before), job.job_id);
    assert.ok(seen.received[before].seq >= seen.received[before - 1].seq, 'the snapshot after the restart went back');
    checkSnapshots(seen.received.slice(0, before).concat([seen.received.at(-1)]), job.job_id);
    const final = await srv.job(token, job.job_id);
    assert.equal(seen.received.at(-1).seq, final.seq);
  });
});

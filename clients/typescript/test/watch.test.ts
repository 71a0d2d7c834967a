import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { NotFoundError, isTerminalEvent, type ActiveTransport, type JobEvent } from '../src/index.js';
import { expectConsecutive, makeClient, server, trackingEventSource, uniq, waitTerminal } from './helpers.js';

const USER = 'ts-watch';

/** A fetch for the `eventsource` package whose response bodies the test can cut, like a dropped connection. */
function droppableFetch(lastSeen: () => number | undefined) {
  const requests: { url: string; lastEventId: string | null; lastSeen: number | undefined }[] = [];
  const drops: (() => void)[] = [];
  const f = async (url: string | URL, init?: RequestInit) => {
    requests.push({ url: String(url), lastEventId: new Headers(init?.headers).get('Last-Event-ID'), lastSeen: lastSeen() });
    const res = await fetch(url, init);
    if (!res.body || res.status !== 200) return res;
    const reader = res.body.getReader();
    let closed = false;
    let ctrl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        ctrl = c;
      },
      async pull(c) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (closed) return;
        if (done) {
          closed = true;
          c.close();
        } else c.enqueue(value!);
      },
      cancel(r) {
        closed = true;
        return reader.cancel(r);
      },
    });
    drops.push(() => {
      if (closed) return;
      closed = true;
      ctrl.close();
      void reader.cancel().catch(() => {});
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  return { fetch: f, requests, drops };
}

describe('watchJob', () => {
  it('follows a job over SSE to terminal with consecutive ids and accumulated output', async () => {
    const c = makeClient(USER);
    const { ES, instances } = trackingEventSource();
    const sub = await c.submit('Give me a SMART goal for learning Go');
    const events: JobEvent[] = [];
    const transports: ActiveTransport[] = [];
    let snapshots = 0;
    const w = c.watchJob(sub.job_id, {
      snapshot: sub,
      EventSource: ES,
      onEvent: (ev) => events.push(ev),
      onSnapshot: () => snapshots++,
      onTransport: (t) => transports.push(t),
    });
    const final = await w.done;
    expect(transports).toEqual(['sse']);
    expect(final.terminal).toBe(true);
    expect(final.status).toBe('completed');
    expect(final.progress).toBe(100);
    expect(events.length).toBeGreaterThan(1);
    expect(events[0]!.seq).toBe(1); // replay from 0: the whole log
    expectConsecutive(events.map((e) => e.seq));
    expectTerminalOnLast(events);
    expect(events.some((e) => e.type === 'output')).toBe(true);
    expect(w.output.length).toBeGreaterThan(0);
    expect(w.output).toBe(events.filter((e) => e.type === 'output').map((e) => e.text).join(''));
    expect(snapshots).toBeGreaterThan(1);
    // The local snapshot agrees with the server's.
    const server = await c.getJob(sub.job_id);
    expect(final).toMatchObject({ job_id: server.job_id, status: server.status, seq: server.seq, progress: server.progress });
    expect(final.result).toEqual(server.result);
    // Stream URLs carry the stream token, never the API token.
    for (const i of instances) {
      expect(i.url).toContain('token=st_');
      expect(i.url).not.toContain(encodeURIComponent(serverTokens()[USER]!));
    }
  });

  it('without a position the stream starts with a snapshot', async () => {
    const c = makeClient(USER);
    const sub = await c.submit(`snapshot first ${uniq()}`);
    const events: JobEvent[] = [];
    const w = c.watchJob(sub.job_id, { streamToken: sub.stream_token, onEvent: (e) => events.push(e) });
    const final = await w.done;
    expect(events[0]!.type).toBe('snapshot');
    expect(events[0]!.job?.job_id).toBe(sub.job_id);
    expectConsecutive(events.map((e) => e.seq));
    expectTerminalOnLast(events);
    expect(final.terminal).toBe(true);
  });

  it('stops on an event that says terminal, without waiting for the stream to end', async () => {
    // A stand-in for the events URL that sends the job's events (or a snapshot) with the terminal
    // flag and then keeps the stream open: only the flag can end the watch.
    const c = makeClient(USER);
    const sub = await c.submit(`terminal flag ${uniq()}`);
    const done = await waitTerminal(c, sub.job_id);
    const bodies: Record<string, object[]> = {
      last: [
        { job_id: sub.job_id, seq: 1, type: 'status', status: 'queued', progress: 0, terminal: false, at: done.created_at },
        { job_id: sub.job_id, seq: done.seq, type: 'completed', status: 'completed', progress: 100, terminal: true,
          at: done.finished_at, result: done.result, intent: done.intent },
      ],
      snapshot: [{ job_id: sub.job_id, seq: done.seq, type: 'snapshot', status: 'completed', progress: 100, terminal: true,
        at: done.finished_at, job: done }],
    };
    const open = createServer((req, res) => {
      const kind = new URL(req.url!, 'http://x').pathname.split('/')[1]!;
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      for (const ev of bodies[kind]!) res.write(`id: ${(ev as { seq: number }).seq}\ndata: ${JSON.stringify(ev)}\n\n`);
    });
    await new Promise<void>((r) => open.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (open.address() as AddressInfo).port;
      for (const kind of Object.keys(bodies)) {
        const events: JobEvent[] = [];
        const transports: ActiveTransport[] = [];
        const w = c.watchJob(sub.job_id, {
          snapshot: { ...sub },
          eventsUrl: () => `http://127.0.0.1:${port}/${kind}/events`,
          onEvent: (e) => events.push(e),
          onTransport: (t) => transports.push(t),
        });
        const final = await w.done;
        expect(transports, kind).toEqual(['sse']);
        expect(final, kind).toMatchObject({ status: 'completed', terminal: true, seq: done.seq });
        expect(events.map((e) => e.type), kind).toEqual(bodies[kind]!.map((e) => (e as { type: string }).type));
        expectTerminalOnLast(events);
      }
    } finally {
      open.closeAllConnections();
      await new Promise((r) => open.close(r));
    }
  });

  it('resumes with ?after=<last id> after the EventSource is closed under it', async () => {
    const c = makeClient(USER);
    const { ES, instances } = trackingEventSource();
    const sub = await c.submit('Write me a SMART goal about running, with milestones');
    const events: JobEvent[] = [];
    let droppedAt: number | null = null;
    const w = c.watchJob(sub.job_id, {
      snapshot: sub,
      EventSource: ES,
      onEvent: (ev) => {
        events.push(ev);
        if (droppedAt === null && !isTerminalEvent(ev)) {
          droppedAt = ev.seq;
          const es = instances.at(-1)!.es;
          es.close(); // the connection is gone and the EventSource will not come back by itself
          es.dispatchEvent(new Event('error'));
        }
      },
    });
    const final = await w.done;
    expect(final.status).toBe('completed');
    expect(droppedAt).not.toBeNull();
    expect(instances.length).toBeGreaterThanOrEqual(2);
    expect(instances[1]!.url).toContain(`after=${droppedAt}`);
    expect(instances[1]!.ids[0]).toBe(droppedAt! + 1);
    expect(events[0]!.seq).toBe(1);
    expectConsecutive(events.map((e) => e.seq));
    expect(final.seq).toBe(events.at(-1)!.seq);
  });

  it('resumes with Last-Event-ID when the connection drops and EventSource reconnects', async () => {
    const c = makeClient(USER);
    const { ES, instances } = trackingEventSource();
    const dropper = droppableFetch(() => instances[0]?.ids.at(-1));
    const sub = await c.submit('Prioritize: taxes, groceries, call mom, fix bike, write report');
    const events: JobEvent[] = [];
    let droppedAt: number | null = null;
    const w = c.watchJob(sub.job_id, {
      snapshot: sub,
      EventSource: ES,
      eventSourceInit: { fetch: dropper.fetch },
      onEvent: (ev) => {
        events.push(ev);
        if (droppedAt === null && !isTerminalEvent(ev)) {
          droppedAt = ev.seq;
          dropper.drops.at(-1)!();
        }
      },
    });
    const final = await w.done;
    expect(final.status).toBe('completed');
    expect(droppedAt).not.toBeNull();
    expect(instances).toHaveLength(1); // the same EventSource reconnected by itself
    expect(dropper.requests.length).toBeGreaterThanOrEqual(2);
    expect(dropper.requests[0]!.lastEventId).toBeNull();
    // The reconnection names the last id the EventSource had parsed (the cut may fall after a few more).
    expect(dropper.requests[1]!.lastSeen).toBeGreaterThanOrEqual(droppedAt!);
    expect(dropper.requests[1]!.lastEventId).toBe(String(dropper.requests[1]!.lastSeen));
    expectConsecutive(events.map((e) => e.seq));
    // The server resumed after Last-Event-ID, not from the URL's ?after=0: no id arrived twice.
    expectConsecutive(instances[0]!.ids);
  });

  it.each([
    // attempt 1 streams half an answer and fails (retryable); attempt 2 succeeds
    ['[[offline:flaky]]', 2],
    // the first answer does not validate: the model is asked again within the attempt
    ['[[offline:invalid]]', 1],
  ])("starts the output over on every working status (%s): the output is the last answer's only", async (marker, attempt) => {
    const c = makeClient(USER);
    const sub = await c.submit(`${marker} A SMART goal for swimming ${uniq()}`);
    const events: JobEvent[] = [];
    let resets = 0;
    const w = c.watchJob(sub.job_id, {
      snapshot: sub,
      onEvent: (e) => events.push(e),
      onOutput: (out, chunk) => {
        if (out === '' && chunk === '') resets++;
      },
    });
    const final = await w.done;
    expect(final).toMatchObject({ status: 'completed', attempt });
    const lastWorking = events.map((e) => e.type === 'status' && e.status === 'working').lastIndexOf(true);
    const before = events.slice(0, lastWorking).filter((e) => e.type === 'output').map((e) => e.text).join('');
    expect(before.length).toBeGreaterThan(0); // the answer before did stream something
    const last = events.slice(lastWorking).filter((e) => e.type === 'output').map((e) => e.text).join('');
    expect(w.output).toBe(last);
    expect(w.output).toBe((final.result as { text: string }).text);
    expect(resets).toBeGreaterThanOrEqual(1);
  });

  it('falls back to long-poll when the events URL is refused (404)', async () => {
    const c = makeClient(USER);
    const { baseUrl } = server();
    const sub = await c.submit(`fallback ${uniq()}`);
    const transports: ActiveTransport[] = [];
    const events: JobEvent[] = [];
    const w = c.watchJob(sub.job_id, {
      snapshot: sub,
      eventsUrl: (id) => `${baseUrl}/api/v1/no-such-route/${id}/events`,
      onTransport: (t) => transports.push(t),
      onEvent: (e) => events.push(e),
    });
    const final = await w.done;
    expect(transports).toEqual(['sse', 'longpoll']);
    expect(final.status).toBe('completed');
    expect(events.every((e) => e.synthetic && e.type === 'snapshot')).toBe(true);
    expectTerminalOnLast(events);
    const seqs = events.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(w.output).toBe((final.result as { text: string }).text);
  });

  it('falls back to long-poll when the stream opens but brings nothing (a buffering proxy)', async () => {
    // A stand-in for a proxy that accepts the SSE request and holds everything back; the job itself
    // runs on the real server and long-poll goes there.
    const silent = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.flushHeaders();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as AddressInfo).port;
      const c = makeClient(USER);
      const sub = await c.submit(`buffered ${uniq()}`);
      const transports: ActiveTransport[] = [];
      const final = await c.watchJob(sub.job_id, {
        snapshot: sub,
        eventsUrl: (id) => `http://127.0.0.1:${port}/api/v1/jobs/${id}/events`,
        firstEventTimeoutMs: 500,
        onTransport: (t) => transports.push(t),
      }).done;
      expect(transports).toEqual(['sse', 'longpoll']);
      expect(final.status).toBe('completed');
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('falls back from long-poll to polling when long-poll is refused', async () => {
    const c = makeClient(USER);
    const sub = await c.submit(`poll fallback ${uniq()}`);
    const transports: ActiveTransport[] = [];
    const w = c.watchJob(sub.job_id, {
      snapshot: sub,
      transport: 'longpoll',
      longPollWait: 61, // the server refuses: 422 invalid_wait
      pollIntervalMs: 100,
      onTransport: (t, why) => transports.push(t) && void why,
    });
    const final = await w.done;
    expect(transports).toEqual(['longpoll', 'poll']);
    expect(final.terminal).toBe(true);
  });

  it("polls with transport: 'poll' and starts at long-poll without any EventSource", async () => {
    const { baseUrl, tokens } = server();
    const { createClient } = await import('../src/index.js');
    const c = createClient({ baseUrl, token: tokens[USER]!, transport: 'poll' });
    const sub = await c.submit(`plain poll ${uniq()}`);
    const t1: ActiveTransport[] = [];
    const final = await c.watchJob(sub.job_id, { pollIntervalMs: 100, onTransport: (t) => t1.push(t) }).done;
    expect(t1).toEqual(['poll']);
    expect(final.status).toBe('completed');

    const noEs = createClient({ baseUrl, token: tokens[USER]! });
    expect((globalThis as { EventSource?: unknown }).EventSource).toBeUndefined();
    const sub2 = await noEs.submit(`no event source ${uniq()}`);
    const t2: ActiveTransport[] = [];
    const final2 = await noEs.watchJob(sub2.job_id, { onTransport: (t) => t2.push(t) }).done;
    expect(t2).toEqual(['longpoll']);
    expect(final2.terminal).toBe(true);
  });

  it('ends with the cancelled event when the job is cancelled while watched', async () => {
    const c = makeClient(USER);
    const sub = await c.submit(`cancel me while streaming ${uniq()}`);
    const events: JobEvent[] = [];
    let cancelled = false;
    const w = c.watchJob(sub.job_id, {
      snapshot: sub,
      onEvent: (ev) => {
        events.push(ev);
        if (!cancelled) {
          cancelled = true;
          void c.cancelJob(sub.job_id).catch(() => {});
        }
      },
    });
    const final = await w.done;
    expect(final).toMatchObject({ status: 'cancelled', terminal: true });
    expect(events.at(-1)!.type).toBe('cancelled');
    expectTerminalOnLast(events);
    expectConsecutive(events.map((e) => e.seq));
    await new Promise((r) => setTimeout(r, 500));
    expect((await c.getJob(sub.job_id)).status).toBe('cancelled');
  });

  it('rejects with NotFoundError for an unknown job or another user’s job', async () => {
    const c = makeClient(USER);
    await expect(c.watchJob('job_nope0000000000000000000').done).rejects.toBeInstanceOf(NotFoundError);
    const theirs = await makeClient('ts-other').submit(`not yours ${uniq()}`);
    await expect(c.watchJob(theirs.job_id).done).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(c.watchJob(theirs.job_id, { transport: 'poll' }).done).rejects.toBeInstanceOf(NotFoundError);
  });

  it('finishes at once for a terminal job and stops on close() / abort', async () => {
    const c = makeClient(USER);
    const sub = await c.submit(`already done ${uniq()}`);
    const done = await waitTerminal(c, sub.job_id);
    const w = c.watchJob(sub.job_id);
    const again = await w.done;
    expect(again.seq).toBe(done.seq);
    expect(w.output).toBe((done.result as { text: string }).text);

    const live = await c.submit(`close me ${uniq()}`);
    const w2 = c.watchJob(live.job_id, { snapshot: live });
    w2.close();
    await expect(w2.done).rejects.toMatchObject({ name: 'AbortError' });

    const ac = new AbortController();
    const w3 = c.watchJob(live.job_id, { signal: ac.signal });
    ac.abort();
    await expect(w3.done).rejects.toMatchObject({ name: 'AbortError' });
  });
});

/** Every event carries the terminal flag, and it is true exactly on the last one. */
function expectTerminalOnLast(events: JobEvent[]) {
  expect(events.length).toBeGreaterThan(0);
  expect(events.map((e) => typeof e.terminal)).toEqual(events.map(() => 'boolean'));
  expect(events.map((e) => e.terminal)).toEqual(events.map((_, i) => i === events.length - 1));
  expect(isTerminalEvent(events.at(-1)!)).toBe(true);
}

function serverTokens() {
  return server().tokens;
}

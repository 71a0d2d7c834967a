// React Native has fetch (without a streaming body) and WebSocket, but no EventSource: the watch
// follows jobs over /cable there, and long-polls with neither. These tests take EventSource and
// WebSocket away and give the client a fetch whose responses have no body stream (`body` null, as
// React Native's). The global ReadableStream stays: Node's own fetch and Headers need it.
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClient, type ActiveTransport, type ClientOptions, type Job, type WebSocketConstructor } from '../src/index.js';
import { server, uniq } from './helpers.js';

// `ws` (there as jsdom's dependency) stands in for React Native's global WebSocket on Node 20.
const WS: WebSocketConstructor = createRequire(import.meta.url)('ws');

const USER = 'ts-watch';

/** Records every socket opened, like React Native's global WebSocket would be used. */
function trackingWebSocket() {
  const urls: string[] = [];
  const protocols: unknown[] = [];
  const Base = WS as unknown as new (url: string, p?: string | string[]) => object;
  class Tracked extends Base {
    constructor(url: string, p?: string | string[]) {
      super(url, p);
      urls.push(url);
      protocols.push(p);
    }
  }
  return { WebSocket: Tracked as unknown as WebSocketConstructor, urls, protocols };
}

/** fetch as React Native has it: a Response without a body stream; every request recorded. */
function bodylessFetch() {
  const calls: { method: string; url: string; status: number }[] = [];
  const f: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const res = await realFetch(input, init);
    calls.push({ method: init?.method ?? 'GET', url, status: res.status });
    const text = res.status === 204 || res.status === 304 ? null : await res.text();
    const out = new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(out, 'body', { value: null }); // no ReadableStream to read from
    return out;
  };
  return { fetch: f, calls };
}

const realFetch = globalThis.fetch;
const saved: Record<string, PropertyDescriptor | undefined> = {};
const REMOVED = ['EventSource', 'WebSocket'] as const;

beforeEach(() => {
  for (const k of REMOVED) {
    saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
    delete (globalThis as Record<string, unknown>)[k];
  }
});
afterEach(() => {
  for (const k of REMOVED) {
    delete (globalThis as Record<string, unknown>)[k];
    if (saved[k]) Object.defineProperty(globalThis, k, saved[k]!);
  }
});

function rnClient(extra: Partial<ClientOptions> = {}) {
  const { baseUrl, tokens } = server();
  const f = bodylessFetch();
  const client = createClient({ baseUrl, token: tokens[USER]!, fetch: f.fetch, ...extra });
  return { client, calls: f.calls };
}

describe('watchJob without EventSource or a streaming body (React Native)', () => {
  it('follows a job to completed over /cable, with a global WebSocket', async () => {
    expect(typeof (globalThis as Record<string, unknown>).EventSource).toBe('undefined');
    const tracked = trackingWebSocket();
    (globalThis as Record<string, unknown>).WebSocket = tracked.WebSocket; // what React Native has
    const { client, calls } = rnClient();
    const sub = await client.submit(`Give me a SMART goal for cable ${uniq()}`);
    const transports: ActiveTransport[] = [];
    const snapshots: Job[] = [];
    const w = client.watchJob(sub.job_id, {
      onTransport: (t) => transports.push(t),
      onSnapshot: (j) => snapshots.push(j),
    });
    await Promise.resolve();
    const final = await w.done;
    expect(final).toMatchObject({ job_id: sub.job_id, status: 'completed', terminal: true, progress: 100 });
    expect(transports).toEqual(['cable']);
    expect(tracked.urls).toHaveLength(1);
    expect(tracked.urls[0]).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/cable\?token=/);
    expect(tracked.protocols[0]).toContain('actioncable-v1-json');
    // Over /cable: the first GET for the snapshot and nothing else — no SSE, no long-poll.
    const jobGets = calls.filter((c) => c.method === 'GET' && c.url.includes(`/api/v1/jobs/${sub.job_id}`));
    expect(jobGets).toHaveLength(1);
    expect(calls.some((c) => c.url.includes('/events') || c.url.includes('wait='))).toBe(false);
    // Snapshots arrived from the cable, seqs only rising, the last terminal.
    expect(snapshots.length).toBeGreaterThan(1);
    for (let i = 1; i < snapshots.length; i++) expect(snapshots[i]!.seq).toBeGreaterThan(snapshots[i - 1]!.seq);
    expect(snapshots.at(-1)!.terminal).toBe(true);
    expect(w.output).toBe((final.result as { text: string }).text);
    expect(w.transport).toBeNull();
  });

  it('ends on terminal when the job is cancelled while followed (WebSocket injected)', async () => {
    const tracked = trackingWebSocket();
    const { client, calls } = rnClient({ WebSocket: tracked.WebSocket });
    const sub = await client.submit(`[[offline:slow]] cancel me over cable ${uniq()}`);
    let cancelled = false;
    const transports: ActiveTransport[] = [];
    const w = client.watchJob(sub.job_id, {
      snapshot: sub,
      onTransport: (t) => transports.push(t),
      onSnapshot: (j) => {
        if (!cancelled && j.status === 'working') {
          cancelled = true;
          void client.cancelJob(sub.job_id).catch(() => {});
        }
      },
    });
    const final = await w.done;
    expect(cancelled).toBe(true);
    expect(final).toMatchObject({ status: 'cancelled', terminal: true });
    expect(transports).toEqual(['cable']);
    expect(tracked.urls).toHaveLength(1);
    expect(calls.some((c) => c.url.includes('wait='))).toBe(false);
    expect((await client.getJob(sub.job_id)).status).toBe('cancelled');
  });

  it('reconnects and resubscribes when the socket drops, and still ends on terminal', async () => {
    const urls: string[] = [];
    const Base = WS as unknown as new (url: string, p?: string | string[]) => {
      addEventListener(t: string, l: (ev: { data: unknown }) => void): void;
      terminate(): void;
    };
    class Dropping extends Base {
      constructor(url: string, p?: string | string[]) {
        super(url, p);
        urls.push(url);
        if (urls.length > 1) return;
        // The first connection dies right after its first snapshot, as a mobile network would.
        this.addEventListener('message', (ev) => {
          if (String(ev.data).includes('"message"')) this.terminate();
        });
      }
    }
    const { client, calls } = rnClient({ WebSocket: Dropping as unknown as WebSocketConstructor });
    const sub = await client.submit(`[[offline:slow]] drop the socket ${uniq()}`);
    const transports: ActiveTransport[] = [];
    const w = client.watchJob(sub.job_id, { snapshot: sub, onTransport: (t) => transports.push(t) });
    const final = await w.done;
    expect(final).toMatchObject({ status: 'completed', terminal: true });
    expect(transports).toEqual(['cable']);
    expect(urls.length).toBe(2);
    expect(calls.some((c) => c.url.includes('wait='))).toBe(false);
  });

  it('falls back to long-poll when the subscription is rejected (another user’s job)', async () => {
    const { baseUrl, tokens } = server();
    const theirs = await createClient({ baseUrl, token: tokens['ts-other']! }).submit(`not yours ${uniq()}`);
    const { client } = rnClient({ WebSocket: WS });
    const transports: ActiveTransport[] = [];
    const { stream_token } = await client.streamToken(); // with a token the watch skips its first GET
    const w = client.watchJob(theirs.job_id, { streamToken: stream_token, onTransport: (t) => transports.push(t) });
    await expect(w.done).rejects.toMatchObject({ status: 404 });
    expect(transports).toEqual(['cable', 'longpoll']);
  });

  it('completes by long-polling with neither EventSource nor WebSocket', async () => {
    expect(typeof (globalThis as Record<string, unknown>).WebSocket).toBe('undefined');
    const { client, calls } = rnClient();
    const sub = await client.submit(`no sockets at all ${uniq()}`);
    const transports: ActiveTransport[] = [];
    const w = client.watchJob(sub.job_id, { onTransport: (t) => transports.push(t) });
    const final = await w.done;
    expect(final).toMatchObject({ status: 'completed', terminal: true });
    expect(transports).toEqual(['longpoll']);
    expect(calls.some((c) => c.url.includes('wait=') && c.url.includes(sub.job_id))).toBe(true);
  });
});

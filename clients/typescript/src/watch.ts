import { AiJobsError } from './errors.js';
import type { AiJobsClient } from './client.js';
import { cableUrl, connectCable, type CableConnection } from './cable.js';
import type {
  ActiveTransport,
  CompletedResult,
  EventSourceConstructor,
  EventSourceLike,
  Job,
  JobEvent,
  Transport,
  WebSocketConstructor,
} from './types.js';

/** Options of {@link AiJobsClient.watchJob}. */
export interface WatchOptions<Output = unknown> {
  /** Every event, in order, each once (SSE events, or `snapshot` events synthesized from polled snapshots). */
  onEvent?: (event: JobEvent<Output>) => void;
  /** The local snapshot, whenever it changed. */
  onSnapshot?: (job: Job<Output>) => void;
  /** The accumulated output text and the chunk just added. */
  onOutput?: (output: string, chunk: string) => void;
  /** The transport in use, whenever it changes, with why the previous one was given up. */
  onTransport?: (transport: ActiveTransport, reason?: unknown) => void;
  /** Stops the watch; `done` then rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Where to start: `auto` (SSE with an EventSource, else `/cable` with a WebSocket, else long-poll),
   * `sse`, `cable`, `longpoll` or `poll`; each falls back to long-poll, then poll. Default: the
   * client's, else `auto`.
   */
  transport?: Transport;
  /** WebSocket constructor for `/cable`; default the client's, else `globalThis.WebSocket`. Without one, `/cable` is skipped. */
  WebSocket?: WebSocketConstructor;
  /** EventSource constructor; default the client's, else `globalThis.EventSource`. Without one, SSE is skipped. */
  EventSource?: EventSourceConstructor;
  /** Second argument of `new EventSource(url, init)` (e.g. `{ withCredentials }` or the npm package's `{ fetch }`). */
  eventSourceInit?: unknown;
  /** A stream token for the SSE URL. Default: the snapshot's `stream_token`, else POST /api/v1/stream_tokens. */
  streamToken?: string;
  /** A snapshot the caller already has (e.g. the submit response); saves a GET. */
  snapshot?: Job<Output>;
  /**
   * SSE position to start after. Default: 0 when a snapshot is known (the whole log is replayed, so
   * `output` holds every chunk), else none (the server starts with a `snapshot` event).
   */
  after?: number | null;
  /** Builds the SSE URL (without query); default the client's `eventsUrl`, else `/api/v1/jobs/{id}/events`. */
  eventsUrl?: (jobId: string) => string;
  /** Long-poll `?wait=` in seconds (default 25). */
  longPollWait?: number;
  /** Plain polling interval in ms when the server suggests none (default 2000). */
  pollIntervalMs?: number;
  /** Upper bound of the polling backoff in ms (default 30000). */
  maxPollIntervalMs?: number;
  /** SSE or `/cable` reconnections in a row without an event before falling back to long-poll (default 5). */
  maxReconnects?: number;
  /**
   * When the first SSE connection (opened without a position or from 0, which the server answers at
   * once) brings no event within this many ms, SSE is given up for long-poll: something on the way
   * (a buffering proxy) holds the stream back. Default 10000; 0 disables.
   */
  firstEventTimeoutMs?: number;
}

/** A running watch. */
export interface JobWatch<Output = unknown> {
  readonly jobId: string;
  /** The local snapshot, kept up to date from events; null until the first one is known. */
  readonly snapshot: Job<Output> | null;
  /** The model output streamed so far (`output` events), or the final `result.text`. */
  readonly output: string;
  /** The seq of the last event applied. */
  readonly lastSeq: number | null;
  /** The transport in use (null before start and after the end). */
  readonly transport: ActiveTransport | null;
  /** Resolves with the terminal snapshot; rejects on a fatal error (401, 404) or when closed/aborted first. */
  readonly done: Promise<Job<Output>>;
  /** Stops the watch (idempotent). */
  close(): void;
}

const CLOSED = 2;

/** Whether an event ends its job: the server's `terminal` flag, set on every event. */
export function isTerminalEvent(ev: JobEvent<any>): boolean {
  return ev.terminal === true;
}

function abortError(): Error {
  const e = new Error('The watch was closed');
  e.name = 'AbortError';
  return e;
}

function isFatal(err: unknown): boolean {
  return err instanceof AiJobsError && (err.status === 401 || err.status === 403 || err.status === 404 || err.status === 410);
}

/** Applies one event to a snapshot (pure). */
export function applyEvent<Output>(prev: Job<Output> | null, ev: JobEvent<Output>): Job<Output> {
  if ((ev.type === 'snapshot' || ev.type === 'resync') && ev.job) return ev.job;
  const base: Job<Output> = prev ?? {
    job_id: ev.job_id,
    status: ev.status,
    terminal: false,
    progress: 0,
    seq: 0,
    attempt: ev.attempt ?? 0,
    result: null,
    error: null,
    created_at: ev.at,
    started_at: null,
    finished_at: null,
    expires_at: '',
  };
  const next: Job<Output> = {
    ...base,
    seq: ev.seq,
    status: ev.status ?? base.status,
    progress: Math.max(base.progress ?? 0, ev.progress ?? 0),
  };
  if (ev.intent) next.intent = ev.intent;
  if (ev.attempt) next.attempt = ev.attempt;
  switch (ev.type) {
    case 'status':
      next.retry_at = ev.retry_at ?? null;
      next.reason = ev.reason ?? null;
      if (ev.status === 'working' && !next.started_at) next.started_at = ev.at;
      break;
    case 'completed':
      next.status = ev.status ?? 'completed';
      next.progress = 100;
      next.result = ev.result ?? next.result;
      if (!next.intent && ev.result && 'intent' in ev.result) next.intent = (ev.result as CompletedResult).intent;
      next.error = null;
      break;
    case 'failed':
      next.status = ev.status ?? 'failed';
      next.result = ev.result ?? next.result;
      next.error = ev.error ?? next.error;
      break;
    case 'cancelled':
      next.status = ev.status ?? 'cancelled';
      next.error = ev.error ?? next.error;
      break;
  }
  if (isTerminalEvent(ev)) {
    next.terminal = true;
    next.retry_at = null;
    next.reason = null;
    next.finished_at = next.finished_at ?? ev.at;
  }
  return next;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Half fixed, half random: spreads clients that failed together. */
function jitter(ms: number): number {
  return Math.round(ms / 2 + Math.random() * (ms / 2));
}

/**
 * Follows one job until it is terminal. SSE first when there is an EventSource (with
 * `?token=<stream token>`, resuming after a dropped connection from the last seq), else the `/cable`
 * WebSocket when there is one (ActionCable `AiJobChannel`: React Native), long-poll (`?wait=` + `If-None-Match`) when the stream is
 * refused or keeps failing, plain polling with backoff and jitter when long-poll fails. Stops on
 * `terminal`.
 */
export function watchJob<Output = unknown>(
  client: AiJobsClient,
  jobId: string,
  opts: WatchOptions<Output> = {},
): JobWatch<Output> {
  const ctl = new AbortController();
  let snapshot: Job<Output> | null = opts.snapshot ?? null;
  let output = '';
  let lastSeq: number | null = null;
  let transport: ActiveTransport | null = null;
  let closed = false;
  let es: EventSourceLike | null = null;
  let cable: CableConnection | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;

  let resolveDone!: (job: Job<Output>) => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<Job<Output>>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => {}); // a closed watch is not an unhandled rejection

  const longPollWait = opts.longPollWait ?? 25;
  const pollBase = opts.pollIntervalMs ?? 2000;
  const pollMax = opts.maxPollIntervalMs ?? 30000;
  const maxReconnects = opts.maxReconnects ?? 5;

  function cleanup() {
    closed = true;
    transport = null;
    if (timer !== undefined) clearTimeout(timer);
    if (watchdog !== undefined) clearTimeout(watchdog);
    closeEs();
    closeCable();
    ctl.abort();
    opts.signal?.removeEventListener('abort', onAbort);
  }
  function closeEs() {
    if (watchdog !== undefined) {
      clearTimeout(watchdog);
      watchdog = undefined;
    }
    if (es) {
      try {
        es.close();
      } catch {
        /* ignore */
      }
      es = null;
    }
  }
  function closeCable() {
    const c = cable;
    cable = null;
    c?.close();
  }
  function finish(job: Job<Output>) {
    if (closed) return;
    cleanup();
    resolveDone(job);
  }
  function fail(err: unknown) {
    if (closed) return;
    cleanup();
    rejectDone(err);
  }
  function onAbort() {
    fail(opts.signal?.reason ?? abortError());
  }
  if (opts.signal?.aborted) {
    queueMicrotask(onAbort);
  } else {
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  }

  function setTransport(t: ActiveTransport, reason?: unknown) {
    if (closed) return;
    transport = t;
    opts.onTransport?.(t, reason);
  }

  function appendOutput(chunk: string) {
    if (!chunk) return;
    output += chunk;
    opts.onOutput?.(output, chunk);
  }

  function resultText(job: Job<Output>): string | null {
    const r = job.result as { text?: unknown } | null;
    return r && typeof r.text === 'string' ? r.text : null;
  }

  function publish(job: Job<Output>) {
    snapshot = job;
    opts.onSnapshot?.(job);
    if (job.terminal) {
      if (!output) appendOutput(resultText(job) ?? '');
      finish(job);
    }
  }

  /** An event from SSE. */
  function handleEvent(ev: JobEvent<Output>) {
    if (closed || !ev || typeof ev !== 'object') return;
    const isReset = (ev.type === 'snapshot' || ev.type === 'resync') && !!ev.job;
    if (!isReset && lastSeq !== null && ev.seq <= lastSeq) return; // already seen (a replay after resume)
    if (isReset && snapshot && ev.job!.seq < snapshot.seq && ev.type === 'snapshot') return; // older than what we have
    lastSeq = ev.seq;
    opts.onEvent?.(ev);
    if (closed) return;
    if (ev.type === 'resync') {
      output = '';
    }
    if (ev.type === 'output' && typeof ev.text === 'string') appendOutput(ev.text);
    if (isReset) {
      publish(ev.job!);
      return;
    }
    // Events the snapshot already includes (a replay from 0) only add output.
    if (snapshot && ev.seq <= snapshot.seq) return;
    publish(applyEvent(snapshot, ev));
  }

  /** A snapshot from (long-)polling. */
  function handleSnapshot(job: Job<Output>) {
    if (closed) return;
    if (snapshot && job.seq <= snapshot.seq && !(job.terminal && !snapshot.terminal)) return;
    lastSeq = job.seq;
    opts.onEvent?.({
      job_id: job.job_id,
      seq: job.seq,
      type: 'snapshot',
      terminal: job.terminal,
      at: new Date().toISOString(),
      status: job.status,
      progress: job.progress,
      job,
      synthetic: true,
    });
    if (closed) return;
    publish(job);
  }

  // ---- SSE ----------------------------------------------------------------

  let sawEvent = false;
  let failures = 0;

  function sseImpl(): EventSourceConstructor | undefined {
    return (
      opts.EventSource ??
      client.options.EventSource ??
      (globalThis as { EventSource?: EventSourceConstructor }).EventSource
    );
  }

  async function startSse() {
    const ES = sseImpl();
    if (!ES) return startLongPoll(new Error('no EventSource available'));
    let token = opts.streamToken ?? snapshot?.stream_token;
    if (!token) {
      try {
        token = (await client.streamToken({ signal: ctl.signal })).stream_token;
      } catch (err) {
        if (closed) return;
        if (err instanceof AiJobsError && err.status === 401) return fail(err);
        return startLongPoll(err);
      }
    }
    if (closed) return;
    setTransport('sse');
    const initialAfter = opts.after !== undefined ? opts.after : snapshot ? 0 : null;
    const urlFor = (after: number | null) => {
      const base = (opts.eventsUrl ?? client.options.eventsUrl)?.(jobId);
      if (!base) return client.jobEventsUrl(jobId, token!, after);
      const q = `token=${encodeURIComponent(token!)}${after !== null ? `&after=${after}` : ''}`;
      return base + (base.includes('?') ? '&' : '?') + q;
    };

    const connect = () => {
      timer = undefined;
      if (closed) return;
      const source = new ES(urlFor(lastSeq ?? initialAfter), opts.eventSourceInit);
      es = source;
      let gotEvent = false;
      const firstEventTimeout = opts.firstEventTimeoutMs ?? 10_000;
      const position = lastSeq ?? initialAfter;
      if (!sawEvent && firstEventTimeout > 0 && (position === null || position === 0)) {
        watchdog = setTimeout(() => {
          watchdog = undefined;
          if (es !== source || closed || sawEvent) return;
          closeEs();
          void startLongPoll(new Error(`no SSE event within ${firstEventTimeout} ms`));
        }, firstEventTimeout);
      }
      source.addEventListener('message', (m: { data?: unknown; lastEventId?: string }) => {
        if (es !== source || closed) return;
        gotEvent = true;
        if (watchdog !== undefined) {
          clearTimeout(watchdog);
          watchdog = undefined;
        }
        let ev: JobEvent<Output>;
        try {
          ev = JSON.parse(String(m.data));
        } catch {
          return;
        }
        if (typeof ev.seq !== 'number' && m.lastEventId) ev.seq = Number(m.lastEventId);
        sawEvent = true;
        failures = 0;
        handleEvent(ev);
      });
      source.addEventListener('error', (e: unknown) => {
        if (es !== source || closed) return;
        if (!sawEvent) {
          // Refused before the first event (404/405/5xx, 204, CORS, no SSE behind a proxy …).
          closeEs();
          return startLongPoll(e);
        }
        failures++;
        if (failures > maxReconnects) {
          closeEs();
          return startLongPoll(e);
        }
        if (source.readyState === CLOSED) {
          // The EventSource gave up: reconnect ourselves from the last seq (?after=). A connection
          // refused before its first event may mean an expired stream token: get a fresh one.
          closeEs();
          const refresh = !gotEvent;
          timer = setTimeout(async () => {
            if (refresh) {
              try {
                token = (await client.streamToken({ signal: ctl.signal })).stream_token;
              } catch {
                /* keep the old one; the next failure counts too */
              }
            }
            connect();
          }, jitter(Math.min(pollMax, 500 * 2 ** failures)));
        }
        // Otherwise the EventSource reconnects by itself, sending Last-Event-ID.
      });
    };
    connect();
  }

  // ---- /cable (ActionCable over a WebSocket) -------------------------------

  function webSocketImpl(): WebSocketConstructor | undefined {
    return (
      opts.WebSocket ??
      client.options.WebSocket ??
      (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    );
  }

  /**
   * Subscribes to `AiJobChannel` for this job; every message is a snapshot. Reconnects with backoff
   * on a drop, silence or a `disconnect` with `reconnect: true` (the server sends the current
   * snapshot on every subscribe, so nothing is missed); long-polls on a reject, on a connection
   * refused before `welcome`, or after `maxReconnects` failures in a row.
   */
  async function startCable(reason?: unknown) {
    if (closed) return;
    const WS = webSocketImpl();
    if (!WS) return startLongPoll(reason ?? new Error('no WebSocket available'));
    let token = opts.streamToken ?? snapshot?.stream_token;
    const freshToken = async () => {
      token = (await client.streamToken({ signal: ctl.signal })).stream_token;
    };
    if (!token) {
      try {
        await freshToken();
      } catch (err) {
        if (closed) return;
        if (err instanceof AiJobsError && err.status === 401) return fail(err);
        return startLongPoll(err);
      }
    }
    if (closed) return;
    setTransport('cable', reason);
    const identifier = JSON.stringify({ channel: 'AiJobChannel', job_id: jobId });
    let everWelcomed = false;
    let cableFailures = 0;

    const retry = (err: unknown, refresh: boolean) => {
      closeCable();
      if (closed) return;
      if (++cableFailures > maxReconnects) return void startLongPoll(err);
      timer = setTimeout(async () => {
        timer = undefined;
        if (refresh) {
          try {
            await freshToken();
          } catch {
            /* keep the old one; the next failure counts too */
          }
        }
        connect();
      }, jitter(Math.min(pollMax, 500 * 2 ** cableFailures)));
    };

    const connect = () => {
      if (closed) return;
      cable = connectCable(WS, cableUrl(client.baseUrl, token!, client.options.cableUrl), identifier, {
        onMessage(m) {
          cableFailures = 0;
          if (m && typeof m === 'object' && typeof (m as Job<Output>).seq === 'number') handleSnapshot(m as Job<Output>);
        },
        onReject(why) {
          cable = null;
          void startLongPoll(new Error(`/cable subscription rejected${why ? ': ' + why : ''}`));
        },
        onEnd({ reason: why, reconnect, welcomed, error }) {
          cable = null;
          if (closed) return;
          everWelcomed ||= welcomed;
          const err = error ?? new Error(`/cable disconnect${why ? ': ' + why : ''}`);
          // Refused before it ever spoke ActionCable (no /cable, a proxy without upgrades, Origin, 426).
          if (!everWelcomed && why === undefined) return void startLongPoll(err);
          // unauthorized: an expired stream token after a while is worth one more; at once it is not.
          if (!reconnect && why !== undefined) {
            if (why === 'unauthorized' && everWelcomed) return retry(err, true);
            return void startLongPoll(err);
          }
          retry(err, false);
        },
      });
    };
    connect();
  }

  // ---- long-poll ----------------------------------------------------------

  async function startLongPoll(reason?: unknown) {
    if (closed) return;
    setTransport('longpoll', reason);
    let etag = snapshot ? `"${snapshot.seq}"` : null;
    let quick304 = 0;
    while (!closed) {
      const started = Date.now();
      try {
        const r = await client.getJobIfChanged<Output>(jobId, { etag, wait: longPollWait, signal: ctl.signal });
        if (closed) return;
        if (r.job) {
          etag = r.etag;
          quick304 = 0;
          handleSnapshot(r.job);
        } else if (Date.now() - started < Math.min(1000, longPollWait * 500)) {
          // 304 at once: something between us and the server does not hold the request.
          if (++quick304 >= 3) return startPoll(new Error('long-poll not honoured'));
          await sleep(jitter(pollBase), ctl.signal);
        }
      } catch (err) {
        if (closed) return;
        if (isFatal(err)) return fail(err);
        return startPoll(err);
      }
    }
  }

  // ---- plain polling ------------------------------------------------------

  async function startPoll(reason?: unknown) {
    if (closed) return;
    setTransport('poll', reason);
    let etag = snapshot ? `"${snapshot.seq}"` : null;
    let errors = 0;
    while (!closed) {
      let next = pollBase;
      try {
        const r = await client.getJobIfChanged<Output>(jobId, { etag, signal: ctl.signal });
        if (closed) return;
        errors = 0;
        if (r.job) {
          etag = r.etag;
          handleSnapshot(r.job);
        }
        if (r.pollIntervalMs !== null && r.pollIntervalMs > 0) next = r.pollIntervalMs;
        next = Math.round(next * (0.75 + Math.random() * 0.5)); // ±25 % so clients spread out
      } catch (err) {
        if (closed) return;
        if (isFatal(err)) return fail(err);
        errors++;
        const backoff = Math.min(pollMax, pollBase * 2 ** errors);
        const ra = err instanceof AiJobsError && err.retryAfter !== null ? err.retryAfter * 1000 : 0;
        next = Math.max(ra, jitter(backoff));
      }
      if (closed) return;
      await sleep(next, ctl.signal);
    }
  }

  // ---- start --------------------------------------------------------------

  void (async () => {
    await Promise.resolve(); // let the caller keep the handle before callbacks run
    if (closed) return;
    const mode = opts.transport ?? client.options.transport ?? 'auto';
    try {
      if (snapshot) {
        opts.onSnapshot?.(snapshot);
        if (snapshot.terminal) return publish(snapshot);
      } else if (mode !== 'poll' && mode !== 'longpoll' && !opts.streamToken) {
        // The snapshot gives a baseline and this job's stream token.
        const job = await client.getJob<Output>(jobId, { signal: ctl.signal });
        if (closed) return;
        lastSeq = null;
        publish(job);
        if (closed) return;
      }
    } catch (err) {
      if (closed) return;
      if (isFatal(err)) return fail(err);
    }
    if (mode === 'poll') return startPoll();
    if (mode === 'longpoll') return startLongPoll();
    if (mode === 'cable') return startCable();
    if (mode === 'auto' && !sseImpl() && webSocketImpl()) return startCable(new Error('no EventSource available'));
    return startSse();
  })().catch(fail);

  return {
    jobId,
    get snapshot() {
      return snapshot;
    },
    get output() {
      return output;
    },
    get lastSeq() {
      return lastSeq;
    },
    get transport() {
      return transport;
    },
    done,
    close() {
      fail(abortError());
    },
  };
}

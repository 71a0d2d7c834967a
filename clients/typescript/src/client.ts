import { AiJobsError, NetworkError, errorFromResponse } from './errors.js';
import type {
  EventSourceConstructor,
  Job,
  JobList,
  JobPoll,
  JobStatus,
  StreamToken,
  SubmitBody,
  SubmitRequest,
  SubmitResponse,
  Transport,
  Usage,
  WebSocketConstructor,
} from './types.js';
import { watchJob, type JobWatch, type WatchOptions } from './watch.js';

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Where the server is, e.g. `https://ai.example.com` (no `/api/v1`). */
  baseUrl: string;
  /** The API token, or a function returning it (called for every request). Never put in a URL. */
  token: string | (() => string | Promise<string>);
  /** A fetch implementation; defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** An EventSource constructor for SSE; defaults to the global `EventSource` when there is one. */
  EventSource?: EventSourceConstructor;
  /**
   * A WebSocket constructor for `/cable`, used by `auto` when there is no EventSource (React Native);
   * defaults to the global `WebSocket` when there is one.
   */
  WebSocket?: WebSocketConstructor;
  /** The `/cable` URL (without `?token=`); defaults to `{baseUrl}/cable` with `ws(s)://`. */
  cableUrl?: string;
  /** Default transport of {@link AiJobsClient.watchJob}: `auto` (SSE, else `/cable`, else long-poll) unless set. */
  transport?: Transport;
  /** Builds a job's SSE URL (without query); defaults to `{baseUrl}/api/v1/jobs/{id}/events`. */
  eventsUrl?: (jobId: string) => string;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options of a conditional / long-polling GET of one job. */
export interface GetJobIfChangedOptions extends CallOptions {
  /** Sent as `If-None-Match`; a match answers 304. */
  etag?: string | null;
  /** Long-poll up to this many seconds (0–60). */
  wait?: number;
  /** The version the caller has, when it has no ETag. */
  since?: number;
}

/** Options of {@link AiJobsClient.listJobs}. */
export interface ListJobsOptions extends CallOptions {
  status?: JobStatus;
  /** 1–100, default 20. */
  limit?: number;
  cursor?: string | null;
}

/** The client returned by {@link createClient}. Every method rejects with an {@link AiJobsError}. */
export interface AiJobsClient {
  readonly baseUrl: string;
  readonly options: Readonly<ClientOptions>;
  /** POST /api/v1/ai/proxy: queue an AI request. 202 → `created: true`; an idempotent replay (200) → `created: false`. */
  submit<Output = unknown>(req: SubmitRequest | string, opts?: CallOptions): Promise<SubmitResponse<Output>>;
  /** GET /api/v1/jobs/{id}: the snapshot. */
  getJob<Output = unknown>(jobId: string, opts?: CallOptions): Promise<Job<Output>>;
  /** GET /api/v1/jobs/{id} with `If-None-Match` / `?since=` / `?wait=`: null job on 304. */
  getJobIfChanged<Output = unknown>(jobId: string, opts?: GetJobIfChangedOptions): Promise<JobPoll<Output>>;
  /** GET /api/v1/jobs: the caller's jobs, newest first. */
  listJobs<Output = unknown>(opts?: ListJobsOptions): Promise<JobList<Output>>;
  /** POST /api/v1/jobs/{id}/cancel (or DELETE /api/v1/jobs/{id}). 409 `job_terminal` when already finished. */
  cancelJob<Output = unknown>(jobId: string, opts?: CallOptions & { method?: 'POST' | 'DELETE' }): Promise<Job<Output>>;
  /** GET /api/v1/ai/usage. */
  usage(opts?: CallOptions): Promise<Usage>;
  /** POST /api/v1/stream_tokens: a read-only token for all of the caller's stream URLs. */
  streamToken(opts?: CallOptions): Promise<StreamToken>;
  /** The SSE URL of one job, authenticated by a stream token (never the API token). */
  jobEventsUrl(jobId: string, streamToken: string, after?: number | null): string;
  /** The SSE URL of all of the caller's jobs (`/api/v1/events`). */
  userEventsUrl(streamToken: string, after?: number | null): string;
  /** GET /readyz: true when the server is ready (store reachable, schema current). */
  ready(opts?: CallOptions): Promise<boolean>;
  /** GET /healthz: true when the process is alive. */
  healthy(opts?: CallOptions): Promise<boolean>;
  /** Follow a job until it is terminal: SSE (or `/cable` without EventSource), then long-poll, then polling. */
  watchJob<Output = unknown>(jobId: string, opts?: WatchOptions<Output>): JobWatch<Output>;
  /** Low level: a request to `{baseUrl}{path}` with the API token; non-2xx (other than `allow`) rejects. */
  request(path: string, init?: RequestInit & { allow?: number[] }): Promise<Response>;
}

/** Creates a client for one aijobs server and one API token. */
export function createClient(options: ClientOptions): AiJobsClient {
  if (!options || typeof options.baseUrl !== 'string' || !options.baseUrl) {
    throw new TypeError('createClient: baseUrl is required');
  }
  if (options.token == null) throw new TypeError('createClient: token is required');
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function token(): Promise<string> {
    return typeof options.token === 'function' ? await options.token() : options.token;
  }

  async function request(path: string, init: RequestInit & { allow?: number[] } = {}): Promise<Response> {
    const { allow = [], ...rest } = init;
    const headers = new Headers(options.headers);
    new Headers(rest.headers).forEach((v, k) => headers.set(k, v));
    if (!headers.has('Accept')) headers.set('Accept', 'application/json');
    headers.set('Authorization', `Bearer ${await token()}`);
    let res: Response;
    try {
      res = await doFetch(baseUrl + path, { ...rest, headers });
    } catch (err) {
      if (rest.signal?.aborted) throw rest.signal.reason ?? err;
      throw new NetworkError(`aijobs: ${rest.method ?? 'GET'} ${path} failed: ${(err as Error)?.message ?? err}`, {
        status: 0,
        code: 'network_error',
        cause: err,
      });
    }
    if (res.ok || allow.includes(res.status)) return res;
    throw await errorFromResponse(res);
  }

  async function json<T>(res: Response): Promise<T> {
    try {
      return (await res.json()) as T;
    } catch (err) {
      throw new AiJobsError(`aijobs: invalid JSON in a ${res.status} answer`, {
        status: res.status,
        code: 'unexpected_response',
        cause: err,
      });
    }
  }

  /** An unauthenticated GET of a health endpoint: true on 200, false otherwise (network errors included). */
  async function probe(path: string, opts: CallOptions): Promise<boolean> {
    try {
      const res = await doFetch(baseUrl + path, { signal: opts.signal });
      await res.body?.cancel().catch(() => {});
      return res.status === 200;
    } catch {
      return false;
    }
  }

  const jobPath = (jobId: string) => `/api/v1/jobs/${encodeURIComponent(jobId)}`;

  function withQuery(url: string, q: Record<string, string | number | null | undefined>): string {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(q)) {
      if (v !== undefined && v !== null && v !== '') parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
    }
    return parts.length ? url + (url.includes('?') ? '&' : '?') + parts.join('&') : url;
  }

  const client: AiJobsClient = {
    baseUrl,
    options,
    request,

    async submit<Output>(req: SubmitRequest | string, opts: CallOptions = {}) {
      const r: SubmitRequest = typeof req === 'string' ? { input: req } : req;
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (r.idempotencyKey) headers['Idempotency-Key'] = r.idempotencyKey;
      const res = await request('/api/v1/ai/proxy', {
        method: 'POST',
        headers,
        body: JSON.stringify({
          input: r.input,
          user_provided_key: r.userProvidedKey ?? null,
          request_id: r.requestId ?? null,
        } satisfies SubmitBody),
        signal: opts.signal,
      });
      const body = await json<Omit<SubmitResponse<Output>, 'created' | 'location'>>(res);
      return { ...body, created: res.status === 202, location: res.headers.get('Location') } as SubmitResponse<Output>;
    },

    async getJob<Output>(jobId: string, opts: CallOptions = {}) {
      const res = await request(jobPath(jobId), { signal: opts.signal });
      return json<Job<Output>>(res);
    },

    async getJobIfChanged<Output>(jobId: string, opts: GetJobIfChangedOptions = {}) {
      const headers: Record<string, string> = {};
      if (opts.etag) headers['If-None-Match'] = opts.etag;
      const res = await request(withQuery(jobPath(jobId), { wait: opts.wait, since: opts.since }), {
        headers,
        signal: opts.signal,
        allow: [304],
      });
      const pi = res.headers.get('X-Poll-Interval');
      const pollIntervalMs = pi != null && pi !== '' && Number.isFinite(Number(pi)) ? Number(pi) * 1000 : null;
      if (res.status === 304) {
        await res.body?.cancel().catch(() => {});
        return { job: null, notModified: true, etag: res.headers.get('ETag') ?? opts.etag ?? null, pollIntervalMs };
      }
      const job = await json<Job<Output>>(res);
      return { job, notModified: false, etag: res.headers.get('ETag') ?? `"${job.seq}"`, pollIntervalMs };
    },

    async listJobs<Output>(opts: ListJobsOptions = {}) {
      const res = await request(
        withQuery('/api/v1/jobs', { status: opts.status, limit: opts.limit, cursor: opts.cursor }),
        { signal: opts.signal },
      );
      return json<JobList<Output>>(res);
    },

    async cancelJob<Output>(jobId: string, opts: CallOptions & { method?: 'POST' | 'DELETE' } = {}) {
      const method = opts.method ?? 'POST';
      const res = await request(method === 'DELETE' ? jobPath(jobId) : `${jobPath(jobId)}/cancel`, {
        method,
        signal: opts.signal,
      });
      return json<Job<Output>>(res);
    },

    async usage(opts: CallOptions = {}) {
      return json<Usage>(await request('/api/v1/ai/usage', { signal: opts.signal }));
    },

    async streamToken(opts: CallOptions = {}) {
      return json<StreamToken>(await request('/api/v1/stream_tokens', { method: 'POST', signal: opts.signal }));
    },

    jobEventsUrl(jobId: string, streamToken: string, after?: number | null) {
      const base = options.eventsUrl ? options.eventsUrl(jobId) : `${baseUrl}${jobPath(jobId)}/events`;
      return withQuery(base, { token: streamToken, after: after ?? undefined });
    },

    userEventsUrl(streamToken: string, after?: number | null) {
      return withQuery(`${baseUrl}/api/v1/events`, { token: streamToken, after: after ?? undefined });
    },

    ready: (opts: CallOptions = {}) => probe('/readyz', opts),

    healthy: (opts: CallOptions = {}) => probe('/healthz', opts),

    watchJob<Output>(jobId: string, opts: WatchOptions<Output> = {}) {
      return watchJob<Output>(client, jobId, opts);
    },
  };
  return client;
}

/**
 * Wire types of the aijobs HTTP API (docs/api.md). Field names are the
 * server's snake_case JSON names; nothing is renamed on the way in.
 *
 * They are derived from `./openapi.ts`, which `npm run gen:types` generates from the server's
 * OpenAPI document (api/openapi.json); `npm test` fails when that file is stale, so these types
 * follow the server. What is added here: the `Output` type parameter of a result, and open string
 * unions (`Intent`, event `type`) so a newer server's values still type-check.
 */
import type { components, operations } from './openapi.js';

type Schemas = components['schemas'];
type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : never;

/** Where a job stands. `completed`, `failed` and `cancelled` are terminal; test `terminal`, not the status. */
export type JobStatus = Schemas['Status'];

/** Why a job waits for its provider (Job.reason). */
export type WaitReason = 'waiting_for_capacity' | 'waiting_for_provider';

/** What the AI step classified the input as. Other strings may appear in later server versions. */
export type Intent = Schemas['Intent'] | (string & {});

/** What a job cost and where the user stands with the quota (`result.usage_info`). */
export type UsageInfo = Schemas['UsageInfo'];

/** `result` of a completed job. */
export interface CompletedResult<Output = unknown> extends Omit<Schemas['CompletedResult'], 'intent' | 'output'> {
  intent: Intent;
  /** Structured JSON, shaped per intent. */
  output: Output;
}

/** `result` of a failed job. */
export type FailedResult = Schemas['FailedResult'];

export type JobResult<Output = unknown> = CompletedResult<Output> | FailedResult;

/** A job's failure or cancellation reason. */
export type JobError = NonNullable<Schemas['JobError']>;

/** The job snapshot: GET /api/v1/jobs/{id}. */
export interface Job<Output = unknown> extends Omit<Schemas['Job'], 'intent' | 'result' | 'error'> {
  intent?: Intent | null;
  /** Completed: {@link CompletedResult}; failed: {@link FailedResult}; otherwise null. */
  result: JobResult<Output> | null;
  error: JobError | null;
  /** Short-lived read-only token for this job's stream URLs; present in the owner's view. */
  stream_token?: Schemas['JobView']['stream_token'];
}

/** The 202/200 answer of POST /api/v1/ai/proxy. */
export interface SubmitResponse<Output = unknown> extends Job<Output>, Pick<Schemas['Submitted'], 'message'> {
  /** Added by the client: true for 202 (new job), false for 200 (an idempotent replay). */
  created: boolean;
  /** Added by the client: the `Location` header. */
  location: string | null;
}

/** The JSON body of POST /api/v1/ai/proxy, as sent. */
export type SubmitBody = Schemas['SubmitRequest'];

/** Body of POST /api/v1/ai/proxy, in camelCase for callers. */
export interface SubmitRequest {
  input: string;
  userProvidedKey?: string | null;
  /** Makes a retry of the same submit return the same job. */
  requestId?: string | null;
  /** Sent as the `Idempotency-Key` header (works like requestId). */
  idempotencyKey?: string;
}

/** GET /api/v1/jobs. */
export interface JobList<Output = unknown> extends Omit<JsonOf<operations['listJobs']['responses'][200]>, 'jobs'> {
  jobs: Job<Output>[];
}

/** GET /api/v1/ai/usage. */
export type Usage = Schemas['Usage'];

/** POST /api/v1/stream_tokens. */
export type StreamToken = JsonOf<operations['streamToken']['responses'][200]>;

/** An error answer of the API: `{"error": "<for humans>", "code": "<machine code>"}`. */
export type ErrorBody = Schemas['Error'];

/** The answer of a conditional or long-polling GET of one job. */
export interface JobPoll<Output = unknown> {
  /** The snapshot, or null when the server answered 304 (nothing changed). */
  job: Job<Output> | null;
  notModified: boolean;
  /** The ETag to send next time (unchanged on 304). */
  etag: string | null;
  /** `X-Poll-Interval` in milliseconds, when the server suggested one. */
  pollIntervalMs: number | null;
}

export type JobEventType = Schemas['Event']['type'];

/** One event of a job's log, as sent on SSE (`id:` = seq, `data:` = this JSON). */
export interface JobEvent<Output = unknown>
  extends Omit<Schemas['Event'], 'type' | 'intent' | 'result' | 'error' | 'retry_at' | 'job'> {
  type: JobEventType | (string & {});
  /** True exactly on the job's last event (completed, failed, cancelled) and on a snapshot of a finished job. Stop on this. */
  terminal: boolean;
  intent?: Intent;
  result?: JobResult<Output> | null;
  error?: JobError | null;
  retry_at?: string | null;
  /** snapshot and resync: the full snapshot. */
  job?: Job<Output>;
  /** Added by the client for events synthesized from polled snapshots. */
  synthetic?: boolean;
}

/** The part of the `EventSource` interface the client needs (browser or the npm `eventsource` package). */
export interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  addEventListener(type: string, listener: (ev: any) => void): void;
  removeEventListener(type: string, listener: (ev: any) => void): void;
}

/** An `EventSource` constructor. */
export type EventSourceConstructor = new (url: string, init?: any) => EventSourceLike;

/** The part of the WebSocket interface the client needs (browser, React Native, or the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
}

/** A WebSocket constructor (`new WebSocket(url, protocols)`). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * How a watch follows a job. `auto` picks what the platform has: SSE with an EventSource, else the
 * `/cable` WebSocket (React Native), else long-poll. `sse` and `cable` force a start; each rung falls
 * back to the next: sse/cable → longpoll → poll.
 */
export type Transport = 'auto' | 'sse' | 'cable' | 'longpoll' | 'poll';

/** The rung a watch is on right now. */
export type ActiveTransport = 'sse' | 'cable' | 'longpoll' | 'poll';

/**
 * Wire types of the aijobs HTTP API (docs/api.md). Field names are the
 * server's snake_case JSON names; nothing is renamed on the way in.
 */

/** Where a job stands. `completed`, `failed` and `cancelled` are terminal; test `terminal`, not the status. */
export type JobStatus = 'queued' | 'working' | 'retrying' | 'completed' | 'failed' | 'cancelled';

/** Why a job waits for its provider (Job.reason). */
export type WaitReason = 'waiting_for_capacity' | 'waiting_for_provider';

/** What the AI step classified the input as. Other strings may appear in later server versions. */
export type Intent = 'smart_goal' | 'prioritization' | 'general' | (string & {});

/** What a job cost and where the user stands with the quota (`result.usage_info`). */
export interface UsageInfo {
  provider: string;
  model: string;
  tokens_in: number;
  tokens_out: number;
  user_key_used: boolean;
  requests_used: number;
  requests_limit: number;
  requests_remaining: number;
  resets_at: string;
}

/** `result` of a completed job. */
export interface CompletedResult<Output = unknown> {
  intent: Intent;
  /** Structured JSON, shaped per intent. */
  output: Output;
  text: string;
  usage_info: UsageInfo;
}

/** `result` of a failed job. */
export interface FailedResult {
  error: string;
}

export type JobResult<Output = unknown> = CompletedResult<Output> | FailedResult;

/** A job's failure or cancellation reason. */
export interface JobError {
  code: string;
  message: string;
}

/** The job snapshot: GET /api/v1/jobs/{id}. */
export interface Job<Output = unknown> {
  job_id: string;
  status: JobStatus;
  /** True exactly for completed, failed and cancelled. Stop following a job on this. */
  terminal: boolean;
  /** 0–100, never decreases; 100 only with completed. */
  progress: number;
  /** The job's version: +1 on every change. The ETag is `"<seq>"` and the SSE id is the seq. */
  seq: number;
  intent?: Intent | null;
  attempt: number;
  result: JobResult<Output> | null;
  error: JobError | null;
  retry_at?: string | null;
  /**
   * Why a queued or retrying job waits for its provider rather than for a worker
   * ("waiting for capacity" / "the AI provider is having trouble"); absent otherwise.
   * `retry_at` is then about when it tries next.
   */
  reason?: WaitReason | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  expires_at: string;
  /** Short-lived read-only token for this job's stream URLs; present in the owner's view. */
  stream_token?: string;
}

/** The 202/200 answer of POST /api/v1/ai/proxy. */
export interface SubmitResponse<Output = unknown> extends Job<Output> {
  message: string;
  /** Added by the client: true for 202 (new job), false for 200 (an idempotent replay). */
  created: boolean;
  /** Added by the client: the `Location` header. */
  location: string | null;
}

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
export interface JobList<Output = unknown> {
  jobs: Job<Output>[];
  next_cursor: string | null;
}

/** GET /api/v1/ai/usage. */
export interface Usage {
  requests_used: number;
  requests_limit: number;
  requests_remaining: number;
  resets_at: string;
  tokens_in: number;
  tokens_out: number;
  user_key_requests: number;
}

/** POST /api/v1/stream_tokens. */
export interface StreamToken {
  stream_token: string;
  expires_at: string;
}

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

export type JobEventType =
  | 'snapshot'
  | 'resync'
  | 'status'
  | 'progress'
  | 'output'
  | 'completed'
  | 'failed'
  | 'cancelled';

/** One event of a job's log, as sent on SSE (`id:` = seq, `data:` = this JSON). */
export interface JobEvent<Output = unknown> {
  job_id: string;
  seq: number;
  /** On the per-user stream only. */
  user_seq?: number;
  type: JobEventType | (string & {});
  /** True exactly on the job's last event (completed, failed, cancelled) and on a snapshot of a finished job. Stop on this. */
  terminal: boolean;
  at: string;
  status: JobStatus;
  progress: number;
  attempt?: number;
  /** output: the next chunk of model text. */
  text?: string;
  intent?: Intent;
  result?: JobResult<Output> | null;
  error?: JobError | null;
  retry_at?: string | null;
  /** status events of a queued or retrying job: why it waits for its provider. */
  reason?: WaitReason | null;
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

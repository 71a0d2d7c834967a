/** Machine codes of docs/api.md, plus `network_error` (no HTTP answer) and `unexpected_response`. */
export type AiJobsErrorCode =
  | 'invalid_json'
  | 'invalid_last_event_id'
  | 'unauthorized'
  | 'not_found'
  | 'job_terminal'
  | 'idempotency_conflict'
  | 'body_too_large'
  | 'input_too_large'
  | 'invalid_input'
  | 'invalid_field'
  | 'invalid_wait'
  | 'invalid_key'
  | 'no_server_key'
  | 'quota_exceeded'
  | 'rate_limited'
  | 'too_many_streams'
  | 'store_unavailable'
  | 'network_error'
  | 'unexpected_response'
  | (string & {});

/** The HTTP status that goes with each documented code. */
export const ERROR_STATUS: Readonly<Record<string, number>> = Object.freeze({
  invalid_json: 400,
  invalid_last_event_id: 400,
  unauthorized: 401,
  not_found: 404,
  job_terminal: 409,
  idempotency_conflict: 409,
  body_too_large: 413,
  input_too_large: 413,
  invalid_input: 422,
  invalid_field: 422,
  invalid_wait: 422,
  invalid_key: 422,
  no_server_key: 422,
  quota_exceeded: 429,
  rate_limited: 429,
  too_many_streams: 429,
  store_unavailable: 503,
});

/**
 * Every failed request rejects with an AiJobsError: `status` is the HTTP
 * status (0 when no answer came back), `code` the server's machine code,
 * `retryAfter` the `Retry-After` header in seconds (429 and 503).
 */
export class AiJobsError extends Error {
  readonly status: number;
  readonly code: AiJobsErrorCode;
  readonly retryAfter: number | null;
  /** The parsed error body, when there was one. */
  readonly body: unknown;

  constructor(
    message: string,
    init: { status: number; code: AiJobsErrorCode; retryAfter?: number | null; body?: unknown; cause?: unknown },
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'AiJobsError';
    this.status = init.status;
    this.code = init.code;
    this.retryAfter = init.retryAfter ?? null;
    this.body = init.body;
  }

  /** Whether trying the same request again later may succeed (network, 429, 5xx). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** 400: `invalid_json`, `invalid_last_event_id`. */
export class BadRequestError extends AiJobsError {}
/** 401: `unauthorized`. */
export class UnauthorizedError extends AiJobsError {}
/** 404: `not_found` (also a job of another user). */
export class NotFoundError extends AiJobsError {}
/** 409: `job_terminal`, `idempotency_conflict`. */
export class ConflictError extends AiJobsError {}
/** 413: `body_too_large`, `input_too_large`. */
export class PayloadTooLargeError extends AiJobsError {}
/** 422: `invalid_input`, `invalid_field`, `invalid_wait`, `invalid_key`, `no_server_key`. */
export class ValidationError extends AiJobsError {}
/** 429: `quota_exceeded`, `rate_limited`, `too_many_streams`; `retryAfter` is set. */
export class RateLimitError extends AiJobsError {}
/** 503: `store_unavailable`; `retryAfter` is set. */
export class UnavailableError extends AiJobsError {}
/** No HTTP answer: DNS, refused connection, reset. status 0, code `network_error`. */
export class NetworkError extends AiJobsError {}

const BY_STATUS: Record<number, typeof AiJobsError> = {
  400: BadRequestError,
  401: UnauthorizedError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  422: ValidationError,
  429: RateLimitError,
  503: UnavailableError,
};

/** True when `err` is an AiJobsError, optionally with the given code. */
export function isAiJobsError(err: unknown, code?: AiJobsErrorCode): err is AiJobsError {
  return err instanceof AiJobsError && (code === undefined || err.code === code);
}

/** Parses `Retry-After` (seconds or an HTTP date) into seconds. */
export function parseRetryAfter(value: string | null): number | null {
  if (value == null || value.trim() === '') return null;
  const n = Number(value.trim());
  if (Number.isFinite(n)) return Math.max(0, n);
  const t = Date.parse(value);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

/** Builds the typed error for a non-2xx response. Reads the body. */
export async function errorFromResponse(res: Response): Promise<AiJobsError> {
  let body: unknown;
  let text = '';
  try {
    text = await res.text();
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text || undefined;
  }
  const obj = (body && typeof body === 'object' ? body : {}) as { error?: unknown; code?: unknown };
  const code = typeof obj.code === 'string' && obj.code ? obj.code : 'unexpected_response';
  const message =
    typeof obj.error === 'string' && obj.error ? obj.error : `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`;
  const Cls = BY_STATUS[res.status] ?? AiJobsError;
  return new Cls(message, {
    status: res.status,
    code,
    retryAfter: parseRetryAfter(res.headers.get('Retry-After')),
    body,
  });
}

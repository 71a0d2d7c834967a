export { createClient } from './client.js';
export type { AiJobsClient, ClientOptions, CallOptions, GetJobIfChangedOptions, ListJobsOptions } from './client.js';
export { watchJob } from './watch.js';
export { applyEvent, foldEvent, foldSnapshot, initialJobState, isTerminalEvent } from './fold.js';
export type { JobState } from './fold.js';
export type { JobWatch, WatchOptions } from './watch.js';
export {
  AiJobsError,
  BadRequestError,
  UnauthorizedError,
  NotFoundError,
  ConflictError,
  PayloadTooLargeError,
  ValidationError,
  RateLimitError,
  UnavailableError,
  NetworkError,
  ERROR_STATUS,
  isAiJobsError,
  parseRetryAfter,
} from './errors.js';
export type { AiJobsErrorCode } from './errors.js';
export type * from './types.js';
/** The whole generated OpenAPI typing (paths, operations, components) for callers who want it. */
export type { paths, operations, components } from './openapi.js';
export { connectCable, cableUrl, CABLE_PROTOCOLS } from './cable.js';
export type { CableConnection, CableHandlers } from './cable.js';
export { verifyWebhook, WebhookVerificationError, DEFAULT_WEBHOOK_TOLERANCE_SECONDS, type VerifyWebhookOptions, type WebhookHeaders } from './webhook.js';

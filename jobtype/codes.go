package jobtype

// The codes of a failed or cancelled job's error (Job.Error.Code).
const (
	// CodeCancelled: the user cancelled the job.
	CodeCancelled = "cancelled"
	// CodeWorkerLost: the process running an attempt died or lost its lease.
	CodeWorkerLost = "worker_lost"
	// CodeInterrupted: the attempt was stopped by a shutdown and resumes
	// (on a retrying job only).
	CodeInterrupted = "interrupted"
	// CodeInternalError: the attempt hit a bug or an unexpected failure.
	CodeInternalError = "internal_error"
	// CodeInvalidOutput: the model's output did not validate.
	CodeInvalidOutput = "invalid_output"
	// The provider's answers.
	CodeInvalidAPIKey   = "invalid_api_key"
	CodeBadRequest      = "bad_request"
	CodeRefused         = "refused"
	CodeRateLimited     = "rate_limited"
	CodeProviderError   = "provider_error"
	CodeTimeout         = "timeout"
	CodeConnectionError = "connection_error"
	// CodeProviderUnavailable: the job waited longer than the server's
	// provider wait (--provider-wait) for a provider that kept failing or
	// had no capacity.
	CodeProviderUnavailable = "provider_unavailable"
)

// The reasons a job that is not running waits (Job.Reason, Event.Reason).
const (
	// ReasonWaitingForCapacity: the provider's budget (requests or tokens
	// per minute, shared by every worker) is used up for now, or the
	// provider asked to slow down (429 with Retry-After).
	ReasonWaitingForCapacity = "waiting_for_capacity"
	// ReasonWaitingForProvider: the provider is failing (5xx, overloaded,
	// unreachable, timing out); the job waits out a backoff shared by every
	// worker, or for the provider's circuit to close.
	ReasonWaitingForProvider = "waiting_for_provider"
)

// The codes of the API's error answers ({"error": …, "code": …}) that a
// client acts on; docs/api.md lists them all with their HTTP statuses.
const (
	CodeNotFound            = "not_found"
	CodeUnauthorized        = "unauthorized"
	CodeJobTerminal         = "job_terminal"
	CodeIdempotencyConflict = "idempotency_conflict"
	CodeQuotaExceeded       = "quota_exceeded"
	CodeTooManyStreams      = "too_many_streams"
	CodeStoreUnavailable    = "store_unavailable"
)

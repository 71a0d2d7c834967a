// Generated from api/openapi.json by openapi-typescript: do not edit.
// Run `npm run gen:types` in clients/typescript after changing the OpenAPI document.
/* eslint-disable */
export interface paths {
    "/api/v1/ai/proxy": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Queue an AI request */
        post: operations["submit"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/jobs/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A job's snapshot; long-polls with ?wait */
        get: operations["getJob"];
        put?: never;
        post?: never;
        /** Cancel a job */
        delete: operations["deleteJob"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/jobs/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Cancel a job */
        post: operations["cancelJob"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/jobs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The caller's jobs, newest first */
        get: operations["listJobs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/ai/usage": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The caller's usage and quota today (UTC) */
        get: operations["usage"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/stream_tokens": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** A read-only token for all of the caller's streams */
        post: operations["streamToken"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/jobs/{id}/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** SSE stream of one job's events; ends after the terminal event */
        get: operations["jobEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** SSE stream of all the caller's jobs; ids are the user's event sequence */
        get: operations["userEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/cable": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** WebSocket, ActionCable protocol actioncable-v1-json, channel AiJobChannel (param job_id optional); each message is a Job */
        get: operations["cable"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Users, by name, with their quota and today's usage (admin) */
        get: operations["adminListUsers"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/users/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One user with their quota and today's usage (admin) */
        get: operations["adminGetUser"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /** Change a user's daily quota or fair-share weight (admin); every node uses the quota within about a second, the weight from the user's next submit */
        patch: operations["adminSetQuota"];
        trace?: never;
    };
    "/api/v1/admin/users/{id}/tokens": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A user's API tokens, oldest first, revoked and expired ones included (admin); never a token's secret or hash */
        get: operations["adminListTokens"];
        put?: never;
        /** Create an API token for a user (admin); the answer holds its secret, shown this once */
        post: operations["adminCreateToken"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/tokens/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Revoke an API token (admin): it stops working within about a second on every node, with the streams it opened and the stream tokens minted from it; revoking a revoked token changes nothing */
        delete: operations["adminRevokeToken"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/users/{id}/jobs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A user's jobs, newest first (admin) */
        get: operations["adminListUserJobs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/jobs/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Any user's job (admin) */
        get: operations["adminGetJob"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/stats": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The operator page's time series (admin)
         * @description What the operator page at /ops/ charts: one point per 10-second bucket over the last 30 minutes, oldest first, the last one the bucket still filling. Counts, rates and latencies are this node's (the jobs its workers ran and the events its API wrote: scope is "node"); queue depth is cluster-wide, read from the database at most every 10 s. Rates are per minute. A latency is null in a bucket without samples. See docs/metrics.md.
         */
        get: operations["adminStats"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Alive */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness: every named check passes (database, pool, writes, draining) */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Ready */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Readiness"];
                    };
                };
                /** @description Not ready: failed names the first failing check */
                503: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content: {
                        "application/json": components["schemas"]["Readiness"];
                    };
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Prometheus metrics */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description Prometheus text format */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This document */
        get: {
            parameters: {
                query?: never;
                header?: never;
                path?: never;
                cookie?: never;
            };
            requestBody?: never;
            responses: {
                /** @description OpenAPI 3.1 */
                200: {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/webhooks/secret": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Create or rotate the caller's webhook signing secret
         * @description Returns a new whsec_… secret, shown only in this answer; it signs every delivery from now on (tries of older deliveries included). A submit with a webhook is refused (422 webhook_secret_required) until the user has one.
         */
        post: operations["rotateWebhookSecret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/jobs/{id}/deliveries": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The webhook deliveries of a job, in event order, with their tries */
        get: operations["listJobDeliveries"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/users/{id}/webhook": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A user's default webhook (admin) */
        get: operations["adminGetUserWebhook"];
        /** Set a user's default webhook (admin): used by their submits that name no webhook_url */
        put: operations["adminSetUserWebhook"];
        post?: never;
        /** Clear a user's default webhook (admin) */
        delete: operations["adminDeleteUserWebhook"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export interface webhooks {
    jobEvent: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A job event delivered to a submit's webhook_url
         * @description One POST per delivery try, with the same webhook-id on every try; verify webhook-signature with the user's secret (client.VerifyWebhook in Go, verifyWebhook in @aijobs/client). Answer 2xx to acknowledge; 408, 429 (Retry-After honoured), 5xx, timeouts and connection errors are retried for about a day; other answers end the delivery.
         */
        post: {
            parameters: {
                query?: never;
                header: {
                    "webhook-id": string;
                    /** @description Unix seconds of this try */
                    "webhook-timestamp": number;
                    /** @description v1,<base64 HMAC-SHA256 of id.timestamp.body> */
                    "webhook-signature": string;
                };
                path?: never;
                cookie?: never;
            };
            requestBody: {
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            responses: {
                /** @description Delivered */
                "2XX": {
                    headers: {
                        [name: string]: unknown;
                    };
                    content?: never;
                };
            };
        };
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export interface components {
    schemas: {
        AdminUser: {
            id: string;
            name: string;
            daily_quota: number;
            /** @description The user's fair share of the workers when the queue is contended, against the others' (default 1) */
            weight: number;
            usage: components["schemas"]["Usage"];
        };
        /** @description An API token as the admin API lists it: never its secret or hash, except token in the answer that creates it */
        Token: {
            /** @description tok_… */
            id: string;
            user_id: string;
            /** @description The user's name */
            user: string;
            name: string;
            admin: boolean;
            /** Format: date-time */
            created_at: string;
            /**
             * Format: date-time
             * @description Recorded at most once a minute
             */
            last_used_at: string | null;
            /** Format: date-time */
            expires_at: string | null;
            /** Format: date-time */
            revoked_at: string | null;
            /** @enum {string} */
            status: "active" | "expired" | "revoked";
            /** @description The secret (aj_…): only when created */
            token?: string;
        };
        AdminStats: {
            /**
             * @description Whose counts these are: this node's. Queue depth alone is cluster-wide.
             * @enum {string}
             */
            scope: "node";
            /** @description The width of one bucket (10). */
            bucket_seconds: number;
            /** @description Each bucket's start, in Unix seconds. */
            time: number[];
            /** @description Job outcomes written by this node, per minute. */
            jobs_per_minute?: {
                /** @description Jobs submitted on this node */
                submitted?: (number | null)[];
                /** @description Jobs completed */
                completed?: (number | null)[];
                /** @description Jobs failed */
                failed?: (number | null)[];
                /** @description Jobs cancelled */
                cancelled?: (number | null)[];
            };
            /** @description Unfinished jobs of the whole cluster by status, sampled. */
            queue_depth?: {
                /** @description Jobs waiting for their first attempt */
                queued?: (number | null)[];
                /** @description Jobs running */
                working?: (number | null)[];
                /** @description Jobs waiting for another attempt */
                retrying?: (number | null)[];
            };
            /** @description How long this node's attempts waited in the queue. */
            wait_seconds?: {
                /** @description Median */
                p50?: (number | null)[];
                /** @description 95th percentile */
                p95?: (number | null)[];
            };
            /** @description How long this node's attempts ran. */
            run_seconds?: {
                /** @description Median */
                p50?: (number | null)[];
                /** @description 95th percentile */
                p95?: (number | null)[];
            };
            /** @description Failed provider calls of this node, per minute. */
            provider_errors_per_minute?: (number | null)[];
            /** @description Streams open on this node, sampled at the end of each bucket. */
            open_streams?: {
                /** @description Job event streams */
                sse?: (number | null)[];
                /** @description User event streams */
                user_sse?: (number | null)[];
                /** @description Long-polls waiting */
                long_poll?: (number | null)[];
                /** @description /cable connections */
                cable?: (number | null)[];
                /** @description /cable subscriptions */
                cable_subscription?: (number | null)[];
            };
        };
        AdminJob: components["schemas"]["Job"] & {
            /** @description The job's owner */
            user_id: string;
        };
        Readiness: {
            /** @enum {string} */
            status: "ready" | "unavailable";
            /** @description When not ready: the first failing check (database, pool, writes, draining) */
            failed?: string;
            /** @description When not ready: what is wrong with the failing check, in words for anyone; never connection details (those are logged) */
            error?: string;
            /** @description Each check's name and its result */
            checks: {
                [key: string]: "ok" | "failed";
            };
        };
        Error: {
            error: string;
            code: string;
        };
        /** @enum {string} */
        Status: "queued" | "working" | "retrying" | "completed" | "failed" | "cancelled";
        /** @enum {string} */
        Intent: "smart_goal" | "prioritization" | "general";
        SubmitRequest: {
            input: string;
            user_provided_key?: string | null;
            request_id?: string | null;
            /**
             * Format: uri
             * @description Where the job's events are delivered (Standard Webhooks, signed with the user's secret). Absent or null: the user's default webhook, if any; "": none.
             */
            webhook_url?: string | null;
            /** @description The events delivered; default completed, failed, cancelled. */
            webhook_events?: components["schemas"]["WebhookEvent"][];
        };
        /** @description Why a job failed, was cancelled, or (on a retrying event) why its attempt ended. */
        JobError: {
            /** @description Failed: worker_lost (the process running the last attempt died), internal_error, or the provider's (invalid_api_key, bad_request, refused, rate_limited, provider_error, timeout, connection_error, invalid_output), or provider_unavailable (the job waited longer than the server's provider wait for a provider that kept failing or had no capacity). Cancelled: cancelled. On a retrying event also interrupted (the process was shutting down; the same attempt resumes). */
            code: string;
            message: string;
        } | null;
        UsageInfo: {
            provider: string;
            model: string;
            tokens_in: number;
            tokens_out: number;
            user_key_used: boolean;
            requests_used: number;
            requests_limit: number;
            requests_remaining: number;
            /** Format: date-time */
            resets_at: string;
        };
        /** @description completed: CompletedResult; failed: FailedResult; otherwise null */
        Result: components["schemas"]["CompletedResult"] | components["schemas"]["FailedResult"] | null;
        CompletedResult: {
            intent: components["schemas"]["Intent"];
            /** @description Structured JSON, shaped per intent */
            output: {
                [key: string]: unknown;
            };
            text: string;
            usage_info: components["schemas"]["UsageInfo"];
        };
        FailedResult: {
            error: string;
        };
        Job: {
            job_id: string;
            status: components["schemas"]["Status"];
            terminal: boolean;
            progress: number;
            seq: number;
            intent?: components["schemas"]["Intent"];
            attempt: number;
            result: components["schemas"]["Result"];
            error: components["schemas"]["JobError"];
            /** Format: date-time */
            retry_at?: string | null;
            /**
             * @description Why a queued or retrying job waits when it waits for the provider rather than for a worker: waiting_for_capacity (the provider's requests- or tokens-per-minute budget, shared by every worker, is used up for now, or the provider asked to slow down with 429 Retry-After) or waiting_for_provider (the provider is failing: the job waits out a backoff shared by every worker, or for the provider's circuit to close). Absent otherwise; retry_at is then when it tries next. Waiting does not use up an attempt; a job that waits longer than the server's provider wait fails with provider_unavailable.
             * @enum {string}
             */
            reason?: "waiting_for_capacity" | "waiting_for_provider";
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            started_at: string | null;
            /** Format: date-time */
            finished_at: string | null;
            /** Format: date-time */
            expires_at: string;
        };
        JobView: components["schemas"]["Job"] & {
            stream_token?: string;
        };
        Submitted: components["schemas"]["JobView"] & {
            /** @constant */
            message: "AI request queued for processing";
        };
        Usage: {
            requests_used: number;
            requests_limit: number;
            requests_remaining: number;
            tokens_in: number;
            tokens_out: number;
            user_key_requests: number;
            /** Format: date-time */
            resets_at: string;
        };
        Event: {
            job_id: string;
            seq: number;
            /** @description Position in the user's event stream (/api/v1/events): increasing, not consecutive. */
            user_seq?: number;
            /** @enum {string} */
            type: "snapshot" | "resync" | "status" | "progress" | "output" | "completed" | "failed" | "cancelled";
            /** @description True exactly on the job's last event (completed, failed, cancelled) and on a snapshot or resync of a finished job; false on every other event. A client stops following the job on it, on every transport. */
            terminal: boolean;
            /** Format: date-time */
            at: string;
            status: components["schemas"]["Status"];
            progress: number;
            attempt?: number;
            text?: string;
            intent?: components["schemas"]["Intent"];
            result?: components["schemas"]["Result"];
            error?: components["schemas"]["JobError"];
            /** Format: date-time */
            retry_at?: string;
            /**
             * @description Why a queued or retrying job waits when it waits for the provider rather than for a worker: waiting_for_capacity (the provider's requests- or tokens-per-minute budget, shared by every worker, is used up for now, or the provider asked to slow down with 429 Retry-After) or waiting_for_provider (the provider is failing: the job waits out a backoff shared by every worker, or for the provider's circuit to close). Absent otherwise; retry_at is then when it tries next. Waiting does not use up an attempt; a job that waits longer than the server's provider wait fails with provider_unavailable.
             * @enum {string}
             */
            reason?: "waiting_for_capacity" | "waiting_for_provider";
            job?: components["schemas"]["Job"];
        };
        /**
         * @description An event type a webhook may ask for; progress (output and progress events) is coalesced to at most one delivery a second per job.
         * @enum {string}
         */
        WebhookEvent: "completed" | "failed" | "cancelled" | "status" | "progress";
        Webhook: {
            /** Format: uri */
            url: string;
            events: components["schemas"]["WebhookEvent"][];
        };
        WebhookSecret: {
            /** @description whsec_ and a base64 key of 32 bytes (Standard Webhooks) */
            secret: string;
            /** Format: date-time */
            created_at: string;
        };
        DeliveryAttempt: {
            attempt: number;
            /** Format: date-time */
            at: string;
            /** @description null: the try never finished (its worker died) */
            duration_ms: number | null;
            /** @description The receiver's HTTP status (absent: no answer) */
            status_code?: number;
            error?: string;
        };
        Delivery: {
            /** @description The webhook-id header of every try (msg_…) */
            id: string;
            job_id: string;
            /** @description The seq of the event delivered */
            seq: number;
            event: components["schemas"]["WebhookEvent"];
            url: string;
            /**
             * @description pending until a 2xx; failed at once on an answer no retry changes (4xx other than 408/429, a redirect, a target not allowed); dead after the last try
             * @enum {string}
             */
            state: "pending" | "delivered" | "failed" | "dead";
            status_code?: number;
            error?: string;
            attempts: components["schemas"]["DeliveryAttempt"][];
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            next_attempt_at: string | null;
            /** Format: date-time */
            finished_at: string | null;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    submit: {
        parameters: {
            query?: never;
            header?: {
                "Idempotency-Key"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SubmitRequest"];
            };
        };
        responses: {
            /** @description Same request id and body as before: the existing job */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Submitted"];
                };
            };
            /** @description Queued */
            202: {
                headers: {
                    Location?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Submitted"];
                };
            };
            /** @description Malformed request (code invalid_json, invalid_last_event_id) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Conflict (code job_terminal or idempotency_conflict) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too large (code body_too_large or input_too_large) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Invalid field (codes invalid_input, invalid_field, invalid_wait, invalid_key, no_server_key, invalid_webhook_url, webhook_secret_required) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Quota, rate or stream limit (codes quota_exceeded, rate_limited, too_many_streams) */
            429: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getJob: {
        parameters: {
            query?: {
                wait?: number;
                since?: number;
            };
            header?: {
                "If-None-Match"?: string;
            };
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job */
            200: {
                headers: {
                    ETag?: string;
                    /** @description Suggested seconds to the next poll; absent once terminal */
                    "X-Poll-Interval"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobView"];
                };
            };
            /** @description Unchanged since If-None-Match */
            304: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such job for this user (code not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Invalid field (codes invalid_input, invalid_field, invalid_wait, invalid_key, no_server_key) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A long-poll (wait > 0) over the per-user cap of open streams (code too_many_streams) */
            429: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    deleteJob: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Cancelled */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobView"];
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such job for this user (code not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Conflict (code job_terminal or idempotency_conflict) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    cancelJob: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Cancelled */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobView"];
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such job for this user (code not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Conflict (code job_terminal or idempotency_conflict) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    listJobs: {
        parameters: {
            query?: {
                status?: components["schemas"]["Status"];
                limit?: number;
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        jobs: components["schemas"]["Job"][];
                        next_cursor: string | null;
                    };
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Invalid field (codes invalid_input, invalid_field, invalid_wait, invalid_key, no_server_key) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    usage: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Usage */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Usage"];
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    streamToken: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Token */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        stream_token: string;
                        /** Format: date-time */
                        expires_at: string;
                    };
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    jobEvents: {
        parameters: {
            query?: {
                /** @description A stream token (st_…) from the submit response, a job snapshot or POST /api/v1/stream_tokens. Never an API token. */
                token?: string;
                after?: number;
            };
            header?: {
                "Last-Event-ID"?: string;
            };
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description text/event-stream: `id: <seq>` and `data: <Event JSON>` per event; `: hb` heartbeats; `retry: 2000`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": components["schemas"]["Event"];
                };
            };
            /** @description The job is terminal and the position is at its end: nothing will come (EventSource stops) */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (code invalid_json, invalid_last_event_id) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such job for this user (code not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Quota, rate or stream limit (codes quota_exceeded, rate_limited, too_many_streams) */
            429: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    userEvents: {
        parameters: {
            query?: {
                /** @description A stream token (st_…) from the submit response, a job snapshot or POST /api/v1/stream_tokens. Never an API token. */
                token?: string;
                after?: number;
            };
            header?: {
                "Last-Event-ID"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description text/event-stream: `id: <seq>` and `data: <Event JSON>` per event; `: hb` heartbeats; `retry: 2000`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": components["schemas"]["Event"];
                };
            };
            /** @description Malformed request (code invalid_json, invalid_last_event_id) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Quota, rate or stream limit (codes quota_exceeded, rate_limited, too_many_streams) */
            429: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    cable: {
        parameters: {
            query?: {
                /** @description A stream token (st_…) from the submit response, a job snapshot or POST /api/v1/stream_tokens. Never an API token. */
                token?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Switching protocols */
            101: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Not a valid WebSocket handshake (code bad_handshake) or actioncable-v1-json not offered (code unsupported_protocol) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description An Origin that may not open /cable (code origin_not_allowed) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Not a WebSocket upgrade request (code upgrade_required) */
            426: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The store cannot check the token right now (code store_unavailable); retry after Retry-After */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminListUsers: {
        parameters: {
            query?: {
                limit?: number;
                /** @description next_cursor of the previous page */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of users */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        users: components["schemas"]["AdminUser"][];
                        next_cursor: string | null;
                    };
                };
            };
            /** @description Not an admin credential (none, invalid, revoked, expired, or a user's), or no such user, token or job: the same 404 not_found as a path that does not exist */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Invalid field (code invalid_field) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminGetUser: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The user's id (usr_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The user */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminUser"];
                };
            };
            /** @description Not an admin credential (none, invalid, revoked, expired, or a user's), or no such user, token or job: the same 404 not_found as a path that does not exist */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminSetQuota: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The user's id (usr_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description Requests per UTC day on the server's key */
                    daily_quota?: number;
                    /** @description Fair-share weight: under contention the user gets this many turns for one of a user of weight 1 */
                    weight?: number;
                };
            };
        };
        responses: {
            /** @description The user, changed */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminUser"];
                };
            };
            /** @description Malformed JSON (code invalid_json) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Not an admin credential (none, invalid, revoked, expired, or a user's), or no such user, token or job: the same 404 not_found as a path that does not exist */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Body too large (code body_too_large) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Invalid field (code invalid_field) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminListTokens: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The user's id (usr_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The tokens */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        tokens: components["schemas"]["Token"][];
                    };
                };
            };
            /** @description Not an admin credential (none, invalid, revoked, expired, or a user's), or no such user, token or job: the same 404 not_found as a path that does not exist */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminCreateToken: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The user's id (usr_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    /** @description A label for the token */
                    name?: string | null;
                    /**
                     * @description Lifetime: days (90d) or a duration (12h, 30m); absent or null: until revoked
                     * @example 90d
                     */
                    expires_in?: string | null;
                    /** @description Give the token the admin role */
                    admin?: boolean | null;
                };
            };
        };
        responses: {
            /** @description The token, with its secret in token */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Token"];
                };
            };
            /** @description Malformed JSON (code invalid_json) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Not an admin credential (none, invalid, revoked, expired, or a user's), or no such user, token or job: the same 404 not_found as a path that does not exist */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Body too large (code body_too_large) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Invalid field (code invalid_field) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminRevokeToken: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The token's id (tok_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The token, revoked */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Token"];
                };
            };
            /** @description Not an admin credential (none, invalid, revoked, expired, or a user's), or no such user, token or job: the same 404 not_found as a path that does not exist */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminListUserJobs: {
        parameters: {
            query?: {
                status?: components["schemas"]["Status"];
                limit?: number;
                cursor?: string;
            };
            header?: never;
            path: {
                /** @description The user's id (usr_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        jobs: components["schemas"]["AdminJob"][];
                        next_cursor: string | null;
                    };
                };
            };
            /** @description Not an admin credential (none, invalid, revoked, expired, or a user's), or no such user, token or job: the same 404 not_found as a path that does not exist */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Invalid field (code invalid_field) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminGetJob: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The job's id (job_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job and its owner */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminJob"];
                };
            };
            /** @description Not an admin credential (none, invalid, revoked, expired, or a user's), or no such user, token or job: the same 404 not_found as a path that does not exist */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminStats: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The series */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminStats"];
                };
            };
            /** @description Not an admin credential (none, invalid, revoked, expired, or a user's): the same 404 not_found as a path that does not exist */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    rotateWebhookSecret: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The new secret */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookSecret"];
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    listJobDeliveries: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The deliveries (empty when the job has no webhook) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        deliveries: components["schemas"]["Delivery"][];
                    };
                };
            };
            /** @description Missing or invalid token (code unauthorized) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such job for this user (code not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Store unavailable (code store_unavailable) */
            503: {
                headers: {
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminGetUserWebhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The user's id (usr_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The user's default webhook (null: none) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        webhook: components["schemas"]["Webhook"] | null;
                    };
                };
            };
            /** @description No such user, or not an admin (code not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminSetUserWebhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The user's id (usr_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** Format: uri */
                    url: string;
                    events?: components["schemas"]["WebhookEvent"][];
                };
            };
        };
        responses: {
            /** @description The user's default webhook (null: none) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        webhook: components["schemas"]["Webhook"] | null;
                    };
                };
            };
            /** @description Malformed request (code invalid_json) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such user, or not an admin (code not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Invalid field (codes invalid_webhook_url, invalid_field) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    adminDeleteUserWebhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The user's id (usr_…) */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The user's default webhook (null: none) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        webhook: components["schemas"]["Webhook"] | null;
                    };
                };
            };
            /** @description No such user, or not an admin (code not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
}

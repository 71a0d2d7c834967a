// @aijobs/client, bundled from clients/typescript/src by `npm run build:web`: do not edit.
// The dashboard (app.js) imports the fold of job events from it: one applyEvent for the
// TypeScript client and the page.
var __defProp = Object.defineProperty;
var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

// src/errors.ts
var ERROR_STATUS = Object.freeze({
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
  store_unavailable: 503
});
var AiJobsError = class extends Error {
  constructor(message, init) {
    super(message, init.cause === void 0 ? void 0 : { cause: init.cause });
    __publicField(this, "status");
    __publicField(this, "code");
    __publicField(this, "retryAfter");
    /** The parsed error body, when there was one. */
    __publicField(this, "body");
    this.name = "AiJobsError";
    this.status = init.status;
    this.code = init.code;
    this.retryAfter = init.retryAfter ?? null;
    this.body = init.body;
  }
  /** Whether trying the same request again later may succeed (network, 429, 5xx). */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
};
var BadRequestError = class extends AiJobsError {
};
var UnauthorizedError = class extends AiJobsError {
};
var NotFoundError = class extends AiJobsError {
};
var ConflictError = class extends AiJobsError {
};
var PayloadTooLargeError = class extends AiJobsError {
};
var ValidationError = class extends AiJobsError {
};
var RateLimitError = class extends AiJobsError {
};
var UnavailableError = class extends AiJobsError {
};
var NetworkError = class extends AiJobsError {
};
var BY_STATUS = {
  400: BadRequestError,
  401: UnauthorizedError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  422: ValidationError,
  429: RateLimitError,
  503: UnavailableError
};
function isAiJobsError(err, code) {
  return err instanceof AiJobsError && (code === void 0 || err.code === code);
}
function parseRetryAfter(value) {
  if (value == null || value.trim() === "") return null;
  const n = Number(value.trim());
  if (Number.isFinite(n)) return Math.max(0, n);
  const t = Date.parse(value);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - Date.now()) / 1e3));
}
async function errorFromResponse(res) {
  let body;
  let text = "";
  try {
    text = await res.text();
    body = text ? JSON.parse(text) : void 0;
  } catch {
    body = text || void 0;
  }
  const obj = body && typeof body === "object" ? body : {};
  const code = typeof obj.code === "string" && obj.code ? obj.code : "unexpected_response";
  const message = typeof obj.error === "string" && obj.error ? obj.error : `HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}`;
  const Cls = BY_STATUS[res.status] ?? AiJobsError;
  return new Cls(message, {
    status: res.status,
    code,
    retryAfter: parseRetryAfter(res.headers.get("Retry-After")),
    body
  });
}

// src/cable.ts
var CABLE_PROTOCOLS = ["actioncable-v1-json", "actioncable-unsupported"];
var OPEN = 1;
function cableUrl(baseUrl, streamToken, override) {
  const base = override ?? baseUrl.replace(/^http(s?):\/\//i, "ws$1://") + "/cable";
  return `${base}${base.includes("?") ? "&" : "?"}token=${encodeURIComponent(streamToken)}`;
}
function connectCable(WS, url, identifier, handlers, staleMs = 8e3) {
  let ended = false;
  let welcomed = false;
  let confirmed = false;
  let stale;
  let ws;
  const shut = () => {
    if (stale !== void 0) clearTimeout(stale);
    stale = void 0;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      ws.close();
    } catch {
    }
  };
  const end = (why) => {
    if (ended) return;
    ended = true;
    shut();
    handlers.onEnd({ ...why, welcomed });
  };
  const heard = () => {
    if (stale !== void 0) clearTimeout(stale);
    stale = setTimeout(
      () => end({ reconnect: true, error: new Error(confirmed ? `/cable silent for ${staleMs} ms` : "subscription not confirmed") }),
      staleMs
    );
  };
  const send = (frame) => {
    if (ws.readyState === OPEN) ws.send(JSON.stringify(frame));
  };
  try {
    ws = new WS(url, CABLE_PROTOCOLS);
  } catch (error) {
    ended = true;
    queueMicrotask(() => handlers.onEnd({ reconnect: false, welcomed: false, error }));
    return { close() {
    } };
  }
  heard();
  ws.onmessage = (ev) => {
    if (ended) return;
    heard();
    let msg;
    try {
      msg = JSON.parse(String(ev.data));
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object") return;
    switch (msg.type) {
      case "welcome":
        welcomed = true;
        send({ command: "subscribe", identifier });
        return;
      case "ping":
        return;
      case "disconnect":
        return end({ reason: msg.reason, reconnect: msg.reconnect === true });
      case "confirm_subscription":
        if (msg.identifier === identifier) confirmed = true;
        return;
      case "reject_subscription":
        if (msg.identifier !== identifier) return;
        ended = true;
        shut();
        return handlers.onReject(msg.reason);
    }
    if (msg.type === void 0 && msg.identifier === identifier && "message" in msg) {
      confirmed = true;
      handlers.onMessage(msg.message);
    }
  };
  ws.onerror = (error) => end({ reconnect: true, error });
  ws.onclose = (ev) => end({ reconnect: true, error: new Error(`/cable closed (${ev?.code ?? "?"}${ev?.reason ? " " + ev.reason : ""})`) });
  return {
    close() {
      if (ended) return;
      ended = true;
      try {
        send({ command: "unsubscribe", identifier });
      } catch {
      }
      shut();
    }
  };
}

// src/fold.ts
function isTerminalEvent(ev) {
  return ev.terminal === true;
}
function applyEvent(prev, ev) {
  if ((ev.type === "snapshot" || ev.type === "resync") && ev.job) return ev.job;
  const base = prev ?? {
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
    expires_at: ""
  };
  const next = {
    ...base,
    seq: ev.seq,
    status: ev.status ?? base.status,
    progress: Math.max(base.progress ?? 0, ev.progress ?? 0)
  };
  if (ev.intent) next.intent = ev.intent;
  if (ev.attempt) next.attempt = ev.attempt;
  switch (ev.type) {
    case "status":
      next.retry_at = ev.retry_at ?? null;
      next.reason = ev.reason;
      if (ev.status === "working" && !next.started_at) next.started_at = ev.at;
      break;
    case "completed":
      next.status = ev.status ?? "completed";
      next.progress = 100;
      next.result = ev.result ?? next.result;
      if (!next.intent && ev.result && "intent" in ev.result) next.intent = ev.result.intent;
      next.error = null;
      break;
    case "failed":
      next.status = ev.status ?? "failed";
      next.result = ev.result ?? next.result;
      next.error = ev.error ?? next.error;
      break;
    case "cancelled":
      next.status = ev.status ?? "cancelled";
      next.error = ev.error ?? next.error;
      break;
  }
  if (isTerminalEvent(ev)) {
    next.terminal = true;
    next.retry_at = null;
    delete next.reason;
    next.finished_at = next.finished_at ?? ev.at;
  }
  return next;
}
function initialJobState(job = null) {
  return { job, output: "", seq: null, retryError: null };
}
function resultText(job) {
  const r = job?.result;
  return r && typeof r.text === "string" ? r.text : "";
}
function settle(s) {
  const j = s.job;
  if (j?.terminal && !s.output && s.seq !== null && s.seq >= j.seq) {
    const text = resultText(j);
    if (text) return { ...s, output: text };
  }
  return s;
}
function foldEvent(state, ev) {
  if (!ev || typeof ev !== "object") return state;
  if (state.job && ev.job_id !== state.job.job_id) return state;
  const reset = (ev.type === "snapshot" || ev.type === "resync") && !!ev.job;
  if (!reset && state.seq !== null && ev.seq <= state.seq) return state;
  if (reset && ev.type === "snapshot" && state.job && ev.job.seq < state.job.seq) return state;
  let { job, output, retryError } = state;
  if (ev.type === "resync") output = "";
  if (ev.type === "status" && ev.status === "working") output = "";
  if (ev.type === "output" && typeof ev.text === "string") output += ev.text;
  if (ev.type === "status") retryError = ev.status === "retrying" ? ev.error ?? null : null;
  if (reset) {
    job = ev.job;
    if (job.status !== "retrying") retryError = null;
  } else if (!job || ev.seq > job.seq) {
    job = applyEvent(job, ev);
    if (job.terminal) retryError = null;
  }
  return settle({ job, output, seq: ev.seq, retryError });
}
function foldSnapshot(state, snap) {
  if (!snap || typeof snap !== "object") return state;
  const prev = state.job;
  if (prev && snap.job_id !== prev.job_id) return state;
  const newer = !prev || snap.seq > prev.seq || snap.terminal && !prev.terminal;
  const seq = state.seq === null ? snap.seq : Math.max(state.seq, snap.seq);
  if (!newer && seq === state.seq) return state;
  let next = { ...state, seq };
  if (newer) {
    next = {
      ...next,
      job: snap,
      output: prev && snap.attempt !== prev.attempt ? "" : state.output,
      retryError: snap.status === "retrying" ? state.retryError : null
    };
  }
  return settle(next);
}

// src/watch.ts
var CLOSED = 2;
function abortError() {
  const e = new Error("The watch was closed");
  e.name = "AbortError";
  return e;
}
function isFatal(err) {
  return err instanceof AiJobsError && (err.status === 401 || err.status === 403 || err.status === 404 || err.status === 410);
}
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
function jitter(ms) {
  return Math.round(ms / 2 + Math.random() * (ms / 2));
}
function watchJob(client, jobId, opts = {}) {
  const ctl = new AbortController();
  let state = initialJobState(opts.snapshot ?? null);
  let transport = null;
  let closed = false;
  let es = null;
  let cable = null;
  let timer;
  let watchdog;
  let resolveDone;
  let rejectDone;
  const done = new Promise((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => {
  });
  const longPollWait = opts.longPollWait ?? 25;
  const pollBase = opts.pollIntervalMs ?? 2e3;
  const pollMax = opts.maxPollIntervalMs ?? 3e4;
  const maxReconnects = opts.maxReconnects ?? 5;
  function cleanup() {
    closed = true;
    transport = null;
    if (timer !== void 0) clearTimeout(timer);
    if (watchdog !== void 0) clearTimeout(watchdog);
    closeEs();
    closeCable();
    ctl.abort();
    opts.signal?.removeEventListener("abort", onAbort);
  }
  function closeEs() {
    if (watchdog !== void 0) {
      clearTimeout(watchdog);
      watchdog = void 0;
    }
    if (es) {
      try {
        es.close();
      } catch {
      }
      es = null;
    }
  }
  function closeCable() {
    const c = cable;
    cable = null;
    c?.close();
  }
  function finish(job) {
    if (closed) return;
    cleanup();
    resolveDone(job);
  }
  function fail(err) {
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
    opts.signal?.addEventListener("abort", onAbort, { once: true });
  }
  function setTransport(t, reason) {
    if (closed) return;
    transport = t;
    opts.onTransport?.(t, reason);
  }
  function apply(next, ev) {
    if (next === state) return;
    const prev = state;
    state = next;
    if (ev) opts.onEvent?.(ev);
    if (closed) return;
    if (next.output !== prev.output) {
      const chunk = next.output.startsWith(prev.output) ? next.output.slice(prev.output.length) : next.output;
      opts.onOutput?.(next.output, chunk);
      if (closed) return;
    }
    if (next.job && next.job !== prev.job) publish(next.job);
  }
  function publish(job) {
    opts.onSnapshot?.(job);
    if (job.terminal) finish(job);
  }
  function handleEvent(ev) {
    if (closed || !ev || typeof ev !== "object") return;
    apply(foldEvent(state, ev), ev);
  }
  function handleSnapshot(job) {
    if (closed) return;
    const next = foldSnapshot(state, job);
    if (next === state) return;
    const synthetic = next.job !== state.job ? {
      job_id: job.job_id,
      seq: job.seq,
      type: "snapshot",
      terminal: job.terminal,
      at: (/* @__PURE__ */ new Date()).toISOString(),
      status: job.status,
      progress: job.progress,
      job,
      synthetic: true
    } : null;
    apply(next, synthetic);
  }
  let sawEvent = false;
  let failures = 0;
  function sseImpl() {
    return opts.EventSource ?? client.options.EventSource ?? globalThis.EventSource;
  }
  async function startSse() {
    const ES = sseImpl();
    if (!ES) return startLongPoll(new Error("no EventSource available"));
    let token = opts.streamToken ?? state.job?.stream_token;
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
    setTransport("sse");
    const initialAfter = opts.after !== void 0 ? opts.after : state.job ? 0 : null;
    const urlFor = (after) => {
      const base = (opts.eventsUrl ?? client.options.eventsUrl)?.(jobId);
      if (!base) return client.jobEventsUrl(jobId, token, after);
      const q = `token=${encodeURIComponent(token)}${after !== null ? `&after=${after}` : ""}`;
      return base + (base.includes("?") ? "&" : "?") + q;
    };
    const connect = () => {
      timer = void 0;
      if (closed) return;
      const source = new ES(urlFor(state.seq ?? initialAfter), opts.eventSourceInit);
      es = source;
      let gotEvent = false;
      const firstEventTimeout = opts.firstEventTimeoutMs ?? 1e4;
      const position = state.seq ?? initialAfter;
      if (!sawEvent && firstEventTimeout > 0 && (position === null || position === 0)) {
        watchdog = setTimeout(() => {
          watchdog = void 0;
          if (es !== source || closed || sawEvent) return;
          closeEs();
          void startLongPoll(new Error(`no SSE event within ${firstEventTimeout} ms`));
        }, firstEventTimeout);
      }
      source.addEventListener("message", (m) => {
        if (es !== source || closed) return;
        gotEvent = true;
        if (watchdog !== void 0) {
          clearTimeout(watchdog);
          watchdog = void 0;
        }
        let ev;
        try {
          ev = JSON.parse(String(m.data));
        } catch {
          return;
        }
        if (typeof ev.seq !== "number" && m.lastEventId) ev.seq = Number(m.lastEventId);
        sawEvent = true;
        failures = 0;
        handleEvent(ev);
      });
      source.addEventListener("error", (e) => {
        if (es !== source || closed) return;
        if (!sawEvent) {
          closeEs();
          return startLongPoll(e);
        }
        failures++;
        if (failures > maxReconnects) {
          closeEs();
          return startLongPoll(e);
        }
        if (source.readyState === CLOSED) {
          closeEs();
          const refresh = !gotEvent;
          timer = setTimeout(async () => {
            if (refresh) {
              try {
                token = (await client.streamToken({ signal: ctl.signal })).stream_token;
              } catch {
              }
            }
            connect();
          }, jitter(Math.min(pollMax, 500 * 2 ** failures)));
        }
      });
    };
    connect();
  }
  function webSocketImpl() {
    return opts.WebSocket ?? client.options.WebSocket ?? globalThis.WebSocket;
  }
  async function startCable(reason) {
    if (closed) return;
    const WS = webSocketImpl();
    if (!WS) return startLongPoll(reason ?? new Error("no WebSocket available"));
    let token = opts.streamToken ?? state.job?.stream_token;
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
    setTransport("cable", reason);
    const identifier = JSON.stringify({ channel: "AiJobChannel", job_id: jobId });
    let everWelcomed = false;
    let cableFailures = 0;
    const retry = (err, refresh) => {
      closeCable();
      if (closed) return;
      if (++cableFailures > maxReconnects) return void startLongPoll(err);
      timer = setTimeout(async () => {
        timer = void 0;
        if (refresh) {
          try {
            await freshToken();
          } catch {
          }
        }
        connect();
      }, jitter(Math.min(pollMax, 500 * 2 ** cableFailures)));
    };
    const connect = () => {
      if (closed) return;
      cable = connectCable(WS, cableUrl(client.baseUrl, token, client.options.cableUrl), identifier, {
        onMessage(m) {
          cableFailures = 0;
          if (m && typeof m === "object" && typeof m.seq === "number") handleSnapshot(m);
        },
        onReject(why) {
          cable = null;
          void startLongPoll(new Error(`/cable subscription rejected${why ? ": " + why : ""}`));
        },
        onEnd({ reason: why, reconnect, welcomed, error }) {
          cable = null;
          if (closed) return;
          everWelcomed || (everWelcomed = welcomed);
          const err = error ?? new Error(`/cable disconnect${why ? ": " + why : ""}`);
          if (!everWelcomed && why === void 0) return void startLongPoll(err);
          if (!reconnect && why !== void 0) {
            if (why === "unauthorized" && everWelcomed) return retry(err, true);
            return void startLongPoll(err);
          }
          retry(err, false);
        }
      });
    };
    connect();
  }
  async function startLongPoll(reason) {
    if (closed) return;
    setTransport("longpoll", reason);
    let etag = state.job ? `"${state.job.seq}"` : null;
    let quick304 = 0;
    while (!closed) {
      const started = Date.now();
      try {
        const r = await client.getJobIfChanged(jobId, { etag, wait: longPollWait, signal: ctl.signal });
        if (closed) return;
        if (r.job) {
          etag = r.etag;
          quick304 = 0;
          handleSnapshot(r.job);
        } else if (Date.now() - started < Math.min(1e3, longPollWait * 500)) {
          if (++quick304 >= 3) return startPoll(new Error("long-poll not honoured"));
          await sleep(jitter(pollBase), ctl.signal);
        }
      } catch (err) {
        if (closed) return;
        if (isFatal(err)) return fail(err);
        return startPoll(err);
      }
    }
  }
  async function startPoll(reason) {
    if (closed) return;
    setTransport("poll", reason);
    let etag = state.job ? `"${state.job.seq}"` : null;
    let errors = 0;
    while (!closed) {
      let next = pollBase;
      try {
        const r = await client.getJobIfChanged(jobId, { etag, signal: ctl.signal });
        if (closed) return;
        errors = 0;
        if (r.job) {
          etag = r.etag;
          handleSnapshot(r.job);
        }
        if (r.pollIntervalMs !== null && r.pollIntervalMs > 0) next = r.pollIntervalMs;
        next = Math.round(next * (0.75 + Math.random() * 0.5));
      } catch (err) {
        if (closed) return;
        if (isFatal(err)) return fail(err);
        errors++;
        const backoff = Math.min(pollMax, pollBase * 2 ** errors);
        const ra = err instanceof AiJobsError && err.retryAfter !== null ? err.retryAfter * 1e3 : 0;
        next = Math.max(ra, jitter(backoff));
      }
      if (closed) return;
      await sleep(next, ctl.signal);
    }
  }
  void (async () => {
    await Promise.resolve();
    if (closed) return;
    const mode = opts.transport ?? client.options.transport ?? "auto";
    try {
      const given = state.job;
      if (given) {
        if (given.terminal) return apply(foldSnapshot(initialJobState(), given), null);
        opts.onSnapshot?.(given);
      } else if (mode !== "poll" && mode !== "longpoll" && !opts.streamToken) {
        const job = await client.getJob(jobId, { signal: ctl.signal });
        if (closed) return;
        if (job.terminal) return apply(foldSnapshot(initialJobState(), job), null);
        apply(initialJobState(job), null);
        if (closed) return;
      }
    } catch (err) {
      if (closed) return;
      if (isFatal(err)) return fail(err);
    }
    if (mode === "poll") return startPoll();
    if (mode === "longpoll") return startLongPoll();
    if (mode === "cable") return startCable();
    if (mode === "auto" && !sseImpl() && webSocketImpl()) return startCable(new Error("no EventSource available"));
    return startSse();
  })().catch(fail);
  return {
    jobId,
    get snapshot() {
      return state.job;
    },
    get output() {
      return state.output;
    },
    get lastSeq() {
      return state.seq;
    },
    get transport() {
      return transport;
    },
    done,
    close() {
      fail(abortError());
    }
  };
}

// src/client.ts
function createClient(options) {
  if (!options || typeof options.baseUrl !== "string" || !options.baseUrl) {
    throw new TypeError("createClient: baseUrl is required");
  }
  if (options.token == null) throw new TypeError("createClient: token is required");
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  async function token() {
    return typeof options.token === "function" ? await options.token() : options.token;
  }
  async function request(path, init = {}) {
    const { allow = [], ...rest } = init;
    const headers = new Headers(options.headers);
    new Headers(rest.headers).forEach((v, k) => headers.set(k, v));
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    headers.set("Authorization", `Bearer ${await token()}`);
    let res;
    try {
      res = await doFetch(baseUrl + path, { ...rest, headers });
    } catch (err) {
      if (rest.signal?.aborted) throw rest.signal.reason ?? err;
      throw new NetworkError(`aijobs: ${rest.method ?? "GET"} ${path} failed: ${err?.message ?? err}`, {
        status: 0,
        code: "network_error",
        cause: err
      });
    }
    if (res.ok || allow.includes(res.status)) return res;
    throw await errorFromResponse(res);
  }
  async function json(res) {
    try {
      return await res.json();
    } catch (err) {
      throw new AiJobsError(`aijobs: invalid JSON in a ${res.status} answer`, {
        status: res.status,
        code: "unexpected_response",
        cause: err
      });
    }
  }
  async function probe(path, opts) {
    try {
      const res = await doFetch(baseUrl + path, { signal: opts.signal });
      await res.body?.cancel().catch(() => {
      });
      return res.status === 200;
    } catch {
      return false;
    }
  }
  const jobPath = (jobId) => `/api/v1/jobs/${encodeURIComponent(jobId)}`;
  function withQuery(url, q) {
    const parts = [];
    for (const [k, v] of Object.entries(q)) {
      if (v !== void 0 && v !== null && v !== "") parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
    }
    return parts.length ? url + (url.includes("?") ? "&" : "?") + parts.join("&") : url;
  }
  const client = {
    baseUrl,
    options,
    request,
    async submit(req, opts = {}) {
      const r = typeof req === "string" ? { input: req } : req;
      const headers = { "Content-Type": "application/json" };
      if (r.idempotencyKey) headers["Idempotency-Key"] = r.idempotencyKey;
      const res = await request("/api/v1/ai/proxy", {
        method: "POST",
        headers,
        body: JSON.stringify({
          input: r.input,
          user_provided_key: r.userProvidedKey ?? null,
          request_id: r.requestId ?? null
        }),
        signal: opts.signal
      });
      const body = await json(res);
      return { ...body, created: res.status === 202, location: res.headers.get("Location") };
    },
    async getJob(jobId, opts = {}) {
      const res = await request(jobPath(jobId), { signal: opts.signal });
      return json(res);
    },
    async getJobIfChanged(jobId, opts = {}) {
      const headers = {};
      if (opts.etag) headers["If-None-Match"] = opts.etag;
      const res = await request(withQuery(jobPath(jobId), { wait: opts.wait, since: opts.since }), {
        headers,
        signal: opts.signal,
        allow: [304]
      });
      const pi = res.headers.get("X-Poll-Interval");
      const pollIntervalMs = pi != null && pi !== "" && Number.isFinite(Number(pi)) ? Number(pi) * 1e3 : null;
      if (res.status === 304) {
        await res.body?.cancel().catch(() => {
        });
        return { job: null, notModified: true, etag: res.headers.get("ETag") ?? opts.etag ?? null, pollIntervalMs };
      }
      const job = await json(res);
      return { job, notModified: false, etag: res.headers.get("ETag") ?? `"${job.seq}"`, pollIntervalMs };
    },
    async listJobs(opts = {}) {
      const res = await request(
        withQuery("/api/v1/jobs", { status: opts.status, limit: opts.limit, cursor: opts.cursor }),
        { signal: opts.signal }
      );
      return json(res);
    },
    async cancelJob(jobId, opts = {}) {
      const method = opts.method ?? "POST";
      const res = await request(method === "DELETE" ? jobPath(jobId) : `${jobPath(jobId)}/cancel`, {
        method,
        signal: opts.signal
      });
      return json(res);
    },
    async usage(opts = {}) {
      return json(await request("/api/v1/ai/usage", { signal: opts.signal }));
    },
    async streamToken(opts = {}) {
      return json(await request("/api/v1/stream_tokens", { method: "POST", signal: opts.signal }));
    },
    jobEventsUrl(jobId, streamToken, after) {
      const base = options.eventsUrl ? options.eventsUrl(jobId) : `${baseUrl}${jobPath(jobId)}/events`;
      return withQuery(base, { token: streamToken, after: after ?? void 0 });
    },
    userEventsUrl(streamToken, after) {
      return withQuery(`${baseUrl}/api/v1/events`, { token: streamToken, after: after ?? void 0 });
    },
    ready: (opts = {}) => probe("/readyz", opts),
    healthy: (opts = {}) => probe("/healthz", opts),
    watchJob(jobId, opts = {}) {
      return watchJob(client, jobId, opts);
    }
  };
  return client;
}

// src/webhook.ts
var WebhookVerificationError = class extends Error {
  constructor(message) {
    super(message);
    this.name = "WebhookVerificationError";
  }
};
var DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;
function header(headers, name) {
  if (typeof headers.get === "function") return headers.get(name) ?? "";
  const rec = headers;
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
  const v = key === void 0 ? void 0 : rec[key];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}
function fromBase64(s) {
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}
function toBytes(body) {
  if (typeof body === "string") return new TextEncoder().encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}
async function verifyWebhook(secret, headers, body, options = {}) {
  const key = fromBase64(secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret);
  if (!key || key.length === 0) throw new Error("verifyWebhook: the secret is not whsec_ and base64");
  const id = header(headers, "webhook-id");
  const ts = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !ts || !signatures) {
    throw new WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature");
  }
  if (!/^\d+$/.test(ts)) throw new WebhookVerificationError(`webhook-timestamp ${JSON.stringify(ts)} is not a number`);
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  const now = Math.floor((options.now ?? /* @__PURE__ */ new Date()).getTime() / 1e3);
  if (Math.abs(now - Number(ts)) > tolerance) {
    throw new WebhookVerificationError(`webhook-timestamp is ${now - Number(ts)} s from now, more than ${tolerance} s`);
  }
  const prefix = new TextEncoder().encode(`${id}.${ts}.`);
  const payload = toBytes(body);
  const signed = new Uint8Array(prefix.length + payload.length);
  signed.set(prefix);
  signed.set(payload, prefix.length);
  const hmac = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  for (const part of signatures.split(" ")) {
    const [version, sig] = part.split(",", 2);
    if (version !== "v1" || !sig) continue;
    const bytes = fromBase64(sig);
    if (bytes && await crypto.subtle.verify("HMAC", hmac, bytes, signed)) return;
  }
  throw new WebhookVerificationError("no signature matches");
}
export {
  AiJobsError,
  BadRequestError,
  CABLE_PROTOCOLS,
  ConflictError,
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  ERROR_STATUS,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
  WebhookVerificationError,
  applyEvent,
  cableUrl,
  connectCable,
  createClient,
  foldEvent,
  foldSnapshot,
  initialJobState,
  isAiJobsError,
  isTerminalEvent,
  parseRetryAfter,
  verifyWebhook,
  watchJob
};

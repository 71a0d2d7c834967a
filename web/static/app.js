// aijobs dashboard: token, submit, live job view (SSE, polling as fallback),
// jobs list with cancel, usage. Talks only to this origin's /api/v1 (see
// docs/api.md); the API token lives in sessionStorage and travels only in the
// Authorization header; stream URLs carry the short-lived stream token.
// What the page knows of the watched job is the TypeScript client's fold of its
// events (foldEvent/foldSnapshot), from the client bundled into vendor/ by
// `npm run build:web` in clients/typescript: one applyEvent for both.
import { h, renderResult, errorOf } from './render.js';
import { foldEvent, foldSnapshot, initialJobState } from './vendor/aijobs-client.js';

const TOKEN_KEY = 'aijobs.api_token';
const POLL_MS = 2000;          // polling fallback interval (the original client's)
const LIST_REFRESH_MS = 3000;  // jobs list refresh while some job is running
const PAGE_SIZE = 20;

const $ = (id) => document.getElementById(id);

const el = {
  announcer: $('announcer'),
  tokenForm: $('token-form'), tokenInput: $('token-input'), tokenForget: $('token-forget'), tokenState: $('token-state'),
  submitForm: $('submit-form'), requestInput: $('request-input'), userKey: $('user-key'),
  submitButton: $('submit-button'), submitError: $('submit-error'),
  panel: $('job-panel'), jobHeading: $('job-heading'), jobId: $('job-id'), jobStatus: $('job-status'),
  jobTransport: $('job-transport'), progress: $('job-progress'), progressText: $('job-progress-text'),
  retry: $('job-retry'), jobCancel: $('job-cancel'), output: $('job-output'), result: $('job-result'),
  jobsTable: $('jobs-table'), jobsBody: $('jobs-body'), jobsEmpty: $('jobs-empty'), jobsError: $('jobs-error'),
  jobsRefresh: $('jobs-refresh'), jobsMore: $('jobs-more'),
  usageError: $('usage-error'), usageRefresh: $('usage-refresh'),
};

/** The page's state. Only the functions below write it. */
const state = {
  token: readToken(),
  // The watched job as the client's fold knows it ({job, output, seq,
  // retryError}: written only by watch, applySnapshot and applyEvent), and how
  // we follow it.
  view: null,
  get job() { return this.view ? this.view.job : null; },
  announced: '',
  resultShown: '',
  watch: null, // { es, pollTimer, stopped, mode }
  jobs: [],
  nextCursor: null,
  listTimer: null,
  listGen: 0, // the latest jobs list request: older answers are dropped
};

// ---------------------------------------------------------------- helpers

function readToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

/** announce tells screen readers about a change through the live region. */
function announce(message) {
  el.announcer.textContent = '';
  // A fresh text node on the next frame makes repeated messages heard again.
  requestAnimationFrame(() => { el.announcer.textContent = message; });
}

function showError(node, message) {
  node.textContent = message;
  node.hidden = !message;
}

/** requestId is a random idempotency key (crypto.randomUUID needs a secure context). */
function requestId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return 'web_' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString() : '–');
/** isTerminal is the server's flag: snapshots and events both carry `terminal`. */
const isTerminal = (j) => Boolean(j && j.terminal);

/** ApiError is an error answer of the API ({error, code}) or a network failure. */
class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /** describe is the message shown to the user. */
  describe() {
    let m = this.message;
    if (this.code && this.status) m += ` (${this.code})`;
    if (this.retryAfter) m += ` Try again in ${this.retryAfter} s.`;
    return m;
  }
}

/** api calls /api/v1 with the Bearer token and returns {status, data, res}. */
async function api(method, path, { body, headers } = {}) {
  if (!state.token) throw new ApiError(0, 'no_token', 'Paste your API token first.');
  const init = {
    method,
    cache: 'no-store',
    headers: { Accept: 'application/json', Authorization: `Bearer ${state.token}`, ...headers },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server.');
  }
  if (res.status === 304) return { status: 304, data: null, res };
  let data = null;
  if ((res.headers.get('Content-Type') || '').includes('json')) data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new ApiError(res.status, (data && data.code) || '',
      (data && data.error) || `The server answered ${res.status}.`, res.headers.get('Retry-After'));
    if (res.status === 401) tokenRejected();
    throw err;
  }
  return { status: res.status, data, res };
}

// ---------------------------------------------------------------- token

function renderTokenState(message) {
  const set = Boolean(state.token);
  el.tokenState.dataset.state = message ? 'bad' : set ? 'set' : 'none';
  el.tokenState.textContent = message ||
    (set ? 'A token is set for this browser tab.' : 'No token set.');
  el.tokenForget.disabled = !set;
}

function tokenRejected() {
  renderTokenState('The server rejected this token (401). Paste a valid one.');
}

el.tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const token = el.tokenInput.value.trim();
  if (!token) {
    renderTokenState('Paste a token first.');
    el.tokenInput.focus();
    return;
  }
  state.token = token;
  try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* private mode: keep it in memory */ }
  el.tokenInput.value = '';
  renderTokenState();
  announce('Token set.');
  refreshJobs();
  refreshUsage();
});

el.tokenForget.addEventListener('click', () => {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* nothing stored */ }
  state.token = '';
  stopWatching();
  clearTimeout(state.listTimer);
  state.listGen++; // drop any list answer still on its way
  state.jobs = [];
  state.nextCursor = null;
  renderJobs();
  renderUsage(null);
  el.panel.hidden = true;
  history.replaceState(null, '', location.pathname);
  renderTokenState();
  announce('Token forgotten.');
  el.tokenInput.focus();
});

// ---------------------------------------------------------------- submit

el.submitForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  showError(el.submitError, '');
  const input = el.requestInput.value;
  if (!input.trim()) {
    showError(el.submitError, 'Write a request first.');
    el.requestInput.focus();
    return;
  }
  if (!state.token) {
    showError(el.submitError, 'Paste your API token first.');
    el.tokenInput.focus();
    return;
  }
  const key = el.userKey.value.trim();
  el.submitButton.disabled = true;
  el.submitButton.textContent = 'Submitting…';
  try {
    const { data } = await api('POST', '/api/v1/ai/proxy', {
      body: { input, user_provided_key: key || null, request_id: requestId() },
    });
    el.userKey.value = ''; // the key is not kept on the page once sent
    announce('Request queued.');
    watch(data);
    refreshJobs();
    refreshUsage();
  } catch (err) {
    showError(el.submitError, err instanceof ApiError ? err.describe() : String(err));
  } finally {
    el.submitButton.disabled = false;
    el.submitButton.textContent = 'Submit';
  }
});

// ---------------------------------------------------------------- watching one job

function stopWatching() {
  const w = state.watch;
  if (!w) return;
  w.stopped = true;
  if (w.es) w.es.close();
  clearTimeout(w.pollTimer);
  state.watch = null;
}

/**
 * watch shows job (a snapshot with its stream_token) in the job panel and
 * follows it: SSE from the start of its log, or polling when the stream
 * cannot be opened.
 */
function watch(job) {
  stopWatching();
  // Not yet read in the log: the stream from 0 replays it, and events up to
  // this snapshot's seq only rebuild the output.
  state.view = initialJobState({ ...job });
  state.announced = '';
  state.resultShown = null; // matches no job: the previous job's result is cleared
  el.panel.hidden = false;
  el.jobCancel.disabled = false;
  history.replaceState(null, '', `#job=${encodeURIComponent(job.job_id)}`);
  const w = { es: null, pollTimer: 0, stopped: false, mode: '', etag: '' };
  state.watch = w;
  renderJob();
  if (job.stream_token && typeof EventSource === 'function') {
    openStream(w, job.job_id, job.stream_token);
  } else {
    startPolling(w, 'Following by polling.');
  }
}

function openStream(w, id, streamToken) {
  // after=0 replays the job's log from its start, so the output streamed
  // before we connected is shown too; seq numbers de-duplicate any overlap.
  const url = `/api/v1/jobs/${encodeURIComponent(id)}/events?token=${encodeURIComponent(streamToken)}&after=0`;
  const es = new EventSource(url);
  let gotEvent = false;
  w.es = es;
  w.mode = 'sse';
  setTransport('Connecting to the live stream…');
  es.onmessage = (msg) => {
    if (w.stopped) return;
    let ev;
    try { ev = JSON.parse(msg.data); } catch { return; }
    if (!gotEvent) setTransport('Live (server-sent events).');
    gotEvent = true;
    applyEvent(ev);
  };
  es.onerror = () => {
    if (w.stopped) return;
    if (!gotEvent || es.readyState === EventSource.CLOSED) {
      es.close();
      w.es = null;
      startPolling(w, gotEvent ? 'Live stream closed; polling every 2 s.' : 'Live stream unavailable; polling every 2 s.');
    } else {
      setTransport('Reconnecting to the live stream…');
    }
  };
}

function startPolling(w, why) {
  w.mode = 'poll';
  setTransport(why);
  renderJob();
  const poll = async () => {
    if (w.stopped) return;
    const id = state.job.job_id;
    let delay = POLL_MS;
    try {
      const headers = w.etag ? { 'If-None-Match': w.etag } : {};
      const { status, data, res } = await api('GET', `/api/v1/jobs/${encodeURIComponent(id)}`, { headers });
      if (w.stopped) return;
      if (status !== 304) {
        w.etag = res.headers.get('ETag') || '';
        applySnapshot(data);
        if (w.stopped) return; // the job is over
      }
      const hint = Number(res.headers.get('X-Poll-Interval'));
      if (hint >= 1 && hint <= 30) delay = hint * 1000;
      setTransport('Polling every ' + delay / 1000 + ' s.');
    } catch (err) {
      if (w.stopped) return;
      if (err.status === 404 || err.status === 401) {
        setTransport(err.status === 404 ? 'This job no longer exists.' : 'The token was rejected.');
        stopWatching();
        return;
      }
      const ra = Number(err.retryAfter);
      delay = ra > 0 ? ra * 1000 : 5000;
      setTransport(`${err.message} Retrying in ${Math.round(delay / 1000)} s.`);
    }
    if (!w.stopped) w.pollTimer = setTimeout(poll, delay);
  };
  poll();
}

function setTransport(text) {
  el.jobTransport.textContent = text;
}

/** applySnapshot folds in a full snapshot (a poll, a cancel answer). */
function applySnapshot(snap) {
  if (!snap || !state.view) return;
  const next = foldSnapshot(state.view, snap);
  if (next === state.view) return;
  state.view = next;
  afterChange();
}

/**
 * applyEvent folds in one SSE event (docs/api.md, "Events"): replays and other
 * jobs' events change nothing; a working status starts the output over.
 */
function applyEvent(ev) {
  if (!ev || !state.view) return;
  const next = foldEvent(state.view, ev);
  if (next === state.view) return;
  state.view = next;
  afterChange();
}

function afterChange() {
  renderJob();
  // Stop once the job is over and the log has been read up to its end.
  const v = state.view;
  if (isTerminal(v.job) && v.seq !== null && v.seq >= v.job.seq && state.watch) {
    const w = state.watch;
    // Close now so EventSource does not reconnect after the stream ends.
    stopWatching();
    setTransport(w.mode === 'sse' ? 'Finished (live stream closed).' : 'Finished.');
    refreshJobs();
    refreshUsage();
  }
}

function renderJob() {
  const j = state.job;
  if (!j) return;
  el.jobId.textContent = j.job_id;
  el.jobStatus.textContent = j.status || 'unknown';
  el.jobStatus.dataset.status = j.status || '';
  const p = Math.max(0, Math.min(100, Math.round(j.progress || 0)));
  el.progress.value = p;
  el.progress.textContent = `${p}%`;
  el.progressText.textContent = `${p}%`;
  el.jobCancel.hidden = isTerminal(j);

  if (j.reason && !isTerminal(j)) {
    // Waiting for the provider uses no attempt: say so rather than show a frozen bar.
    const what = j.reason === 'waiting_for_capacity'
      ? 'Waiting for capacity at the AI provider.'
      : 'Waiting for the AI provider, which is having trouble.';
    const when = j.retry_at ? ` Next try at ${formatTime(j.retry_at)}.` : '';
    el.retry.textContent = what + when;
    el.retry.hidden = false;
  } else if (j.status === 'retrying') {
    const why = state.view.retryError ? errorOf({ error: state.view.retryError }).message + ' ' : '';
    const when = j.retry_at ? `Next attempt at ${formatTime(j.retry_at)}.` : 'Retrying soon.';
    el.retry.textContent = `Attempt ${j.attempt || 1} did not succeed. ${why}${when}`;
    el.retry.hidden = false;
  } else {
    el.retry.hidden = true;
    el.retry.textContent = '';
  }

  const nearBottom = el.output.scrollHeight - el.output.scrollTop - el.output.clientHeight < 24;
  el.output.textContent = state.view.output;
  el.output.dataset.placeholder = state.watch && state.watch.mode === 'poll'
    ? 'Live output is not available while polling; the result appears when the job is done.'
    : isTerminal(j) ? 'No output.' : 'Waiting for output…';
  if (nearBottom) el.output.scrollTop = el.output.scrollHeight;

  const shownKey = isTerminal(j) ? `${j.job_id}:${j.status}` : '';
  if (shownKey !== state.resultShown) {
    state.resultShown = shownKey;
    renderResult(el.result, isTerminal(j) ? j : null);
  }

  if (j.status !== state.announced) {
    state.announced = j.status;
    let msg = `Job ${j.status}.`;
    if (j.status === 'failed' || j.status === 'cancelled') msg += ' ' + errorOf(j).message;
    announce(msg);
  }
  updateListRow(j);
}

el.jobCancel.addEventListener('click', () => {
  if (state.job) cancelJob(state.job.job_id, el.jobCancel);
});

// ---------------------------------------------------------------- cancel

async function cancelJob(id, button) {
  if (button) button.disabled = true;
  try {
    const { data } = await api('POST', `/api/v1/jobs/${encodeURIComponent(id)}/cancel`);
    if (state.job && state.job.job_id === id) applySnapshot(data);
    else announce('Job cancelled.');
    upsertJob(data);
  } catch (err) {
    if (err.code === 'job_terminal') announce('This job had already finished.');
    else showError(el.jobsError, err instanceof ApiError ? err.describe() : String(err));
    if (button) button.disabled = false;
  }
  refreshJobs();
}

// ---------------------------------------------------------------- jobs list

async function refreshJobs({ more = false } = {}) {
  clearTimeout(state.listTimer);
  if (!state.token) return;
  const params = new URLSearchParams();
  if (more && state.nextCursor) {
    params.set('limit', String(PAGE_SIZE));
    params.set('cursor', state.nextCursor);
  } else {
    // Refresh as many rows as are shown, within the API's limit.
    params.set('limit', String(Math.min(100, Math.max(PAGE_SIZE, state.jobs.length))));
  }
  const gen = ++state.listGen;
  try {
    const { data } = await api('GET', `/api/v1/jobs?${params}`);
    if (gen !== state.listGen) return; // a newer refresh is on its way
    const jobs = (data && data.jobs) || [];
    state.jobs = more ? state.jobs.concat(jobs.filter((j) => !state.jobs.some((k) => k.job_id === j.job_id))) : jobs;
    state.nextCursor = (data && data.next_cursor) || null;
    showError(el.jobsError, '');
  } catch (err) {
    if (gen !== state.listGen) return;
    showError(el.jobsError, err instanceof ApiError ? err.describe() : String(err));
  }
  renderJobs();
  if (state.jobs.some((j) => !isTerminal(j))) {
    state.listTimer = setTimeout(() => { if (!document.hidden) refreshJobs(); }, LIST_REFRESH_MS);
  }
}

/** upsertJob merges a snapshot into the list (a cancel answer, the watched job). */
function upsertJob(job) {
  if (!job || !job.job_id) return;
  const i = state.jobs.findIndex((j) => j.job_id === job.job_id);
  if (i >= 0) state.jobs[i] = { ...state.jobs[i], ...job };
  renderJobs();
}

function updateListRow(job) {
  const i = state.jobs.findIndex((j) => j.job_id === job.job_id);
  if (i < 0) return;
  const old = state.jobs[i];
  if (old.status === job.status && old.progress === job.progress) return;
  state.jobs[i] = { ...old, status: job.status, progress: job.progress, terminal: isTerminal(job) };
  renderJobs();
}

/** rowError is a failed job's error message for its row, cut to one line (the full text in its title). */
function rowError(j) {
  if (j.status !== 'failed' || !j.error || !j.error.message) return null;
  const msg = String(j.error.message);
  return h('span', { class: 'row-error', title: msg }, msg);
}

function renderJobs() {
  const current = state.job && state.job.job_id;
  // Keep keyboard focus on the same control across re-renders.
  const focused = document.activeElement && document.activeElement.closest('#jobs-body [data-action]');
  const focusKey = focused ? `${focused.dataset.action}:${focused.dataset.jobId}` : '';

  el.jobsBody.replaceChildren(...state.jobs.map((j) => {
    const p = Math.max(0, Math.min(100, Math.round(j.progress || 0)));
    const actions = [
      h('button', { type: 'button', class: 'secondary small', 'data-action': 'watch', 'data-job-id': j.job_id,
        'aria-label': `Open job ${j.job_id}` }, 'Open'),
    ];
    if (!isTerminal(j)) {
      actions.push(h('button', { type: 'button', class: 'danger small', 'data-action': 'cancel', 'data-job-id': j.job_id,
        'aria-label': `Cancel job ${j.job_id}` }, 'Cancel'));
    }
    return h('tr', { 'data-job-id': j.job_id, 'data-status': j.status, 'aria-current': j.job_id === current ? 'true' : null },
      h('td', { 'data-label': 'Job', class: 'col-job' }, h('span', { class: 'job-cell' },
        h('code', { title: j.job_id }, j.job_id), j.intent ? h('span', { class: 'muted intent' }, ` ${j.intent}`) : null,
        rowError(j))),
      h('td', { 'data-label': 'Created', class: 'col-created' },
        h('time', { datetime: j.created_at, title: j.created_at || null }, formatTime(j.created_at))),
      h('td', { 'data-label': 'Status', class: 'col-status' }, h('span', { class: 'badge', 'data-status': j.status }, j.status)),
      h('td', { 'data-label': 'Progress', class: 'col-progress' }, h('span', { class: 'progress-cell' },
        h('progress', { max: '100', value: String(p), 'aria-label': `Progress of job ${j.job_id}` }, `${p}%`),
        h('span', { class: 'progress-text' }, `${p}%`))),
      h('td', { class: 'actions-cell col-actions' }, h('span', { class: 'row-actions' }, actions)));
  }));
  el.jobsTable.hidden = state.jobs.length === 0;
  el.jobsEmpty.hidden = state.jobs.length !== 0;
  el.jobsEmpty.textContent = state.token ? 'No jobs yet.' : 'Paste a token to see your jobs.';
  el.jobsMore.hidden = !state.nextCursor;

  if (focusKey) {
    const [action, id] = focusKey.split(':');
    const again = el.jobsBody.querySelector(`[data-action="${action}"][data-job-id="${CSS.escape(id)}"]`);
    if (again) again.focus();
  }
}

el.jobsBody.addEventListener('click', async (e) => {
  const b = e.target.closest('button[data-action]');
  if (!b) return;
  const id = b.dataset.jobId;
  if (b.dataset.action === 'cancel') {
    cancelJob(id, b);
  } else if (b.dataset.action === 'watch') {
    await openJob(id);
    el.panel.scrollIntoView({ block: 'start' });
    el.jobHeading.focus();
  }
});

/** openJob fetches a job (with its stream token) and watches it. */
async function openJob(id) {
  try {
    const { data } = await api('GET', `/api/v1/jobs/${encodeURIComponent(id)}`);
    watch(data);
  } catch (err) {
    showError(el.jobsError, err instanceof ApiError ? err.describe() : String(err));
  }
}

el.jobsRefresh.addEventListener('click', () => refreshJobs());
el.jobsMore.addEventListener('click', () => refreshJobs({ more: true }));

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.token && state.jobs.some((j) => !isTerminal(j))) refreshJobs();
});

// ---------------------------------------------------------------- usage

function renderUsage(u) {
  const set = (id, v) => { $(id).textContent = v; };
  if (!u) {
    for (const id of ['usage-requests', 'usage-remaining', 'usage-tokens', 'usage-own', 'usage-resets']) set(id, '–');
    return;
  }
  set('usage-requests', u.requests_limit ? `${fmt(u.requests_used)} of ${fmt(u.requests_limit)}` : fmt(u.requests_used));
  set('usage-remaining', u.requests_limit ? fmt(u.requests_remaining) : 'no limit');
  set('usage-tokens', `${fmt(u.tokens_in)} / ${fmt(u.tokens_out)}`);
  set('usage-own', fmt(u.user_key_requests));
  set('usage-resets', formatTime(u.resets_at) || '–');
}

async function refreshUsage() {
  if (!state.token) return;
  try {
    const { data } = await api('GET', '/api/v1/ai/usage');
    if (!state.token) return; // forgotten meanwhile
    renderUsage(data);
    showError(el.usageError, '');
  } catch (err) {
    showError(el.usageError, err instanceof ApiError ? err.describe() : String(err));
  }
}

el.usageRefresh.addEventListener('click', () => refreshUsage());

// ---------------------------------------------------------------- start

window.addEventListener('pagehide', stopWatching);

renderTokenState();
renderJobs();
if (state.token) {
  refreshJobs();
  refreshUsage();
  const m = /^#job=(.+)$/.exec(location.hash);
  if (m) openJob(decodeURIComponent(m[1]));
}

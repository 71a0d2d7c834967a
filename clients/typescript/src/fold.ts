/**
 * The fold of a job's events into what a client shows (docs/api.md, "Events"): one implementation,
 * used by `watchJob` (and so the React hooks) and by the web dashboard, which loads it from the
 * bundle `npm run build:web` writes to web/static/vendor/aijobs-client.js.
 */
import type { CompletedResult, Job, JobError, JobEvent } from './types.js';

/** Whether an event ends its job: the server's `terminal` flag, set on every event. */
export function isTerminalEvent(ev: JobEvent<any>): boolean {
  return ev.terminal === true;
}

/** Applies one event to a snapshot (pure). Output and positions are {@link foldEvent}'s business. */
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
      next.reason = ev.reason;
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
    delete next.reason;
    next.finished_at = next.finished_at ?? ev.at;
  }
  return next;
}

/** What a client knows of one job: its snapshot, the current attempt's output, its position in the log. */
export interface JobState<Output = unknown> {
  /** The snapshot, kept up to date from events and polled snapshots; null until one is known. */
  readonly job: Job<Output> | null;
  /**
   * The current attempt's output: the `output` chunks since the last `status` event with status
   * `working` (a new attempt, or the model asked again, starts its output over), or — once the job
   * is terminal and the log was read to its end without any — the result's `text`.
   */
  readonly output: string;
  /**
   * The seq of the last event applied (or of the last polled snapshot): the position to resume
   * after. Null until then, also when `job` came from elsewhere (the submit response): a stream
   * from 0 then replays the log, whose events up to `job.seq` only rebuild the output.
   */
  readonly seq: number | null;
  /** While the job is `retrying`: why its last attempt ended (the `error` of that status event). */
  readonly retryError: JobError | null;
}

/** The state before any event: nothing known, or a snapshot the caller already has (not yet read in the log). */
export function initialJobState<Output = unknown>(job: Job<Output> | null = null): JobState<Output> {
  return { job, output: '', seq: null, retryError: null };
}

function resultText(job: Job<any> | null): string {
  const r = job?.result as { text?: unknown } | null | undefined;
  return r && typeof r.text === 'string' ? r.text : '';
}

/** A terminal job read to its end with no output streamed shows the result's text. */
function settle<Output>(s: JobState<Output>): JobState<Output> {
  const j = s.job;
  if (j?.terminal && !s.output && s.seq !== null && s.seq >= j.seq) {
    const text = resultText(j);
    if (text) return { ...s, output: text };
  }
  return s;
}

/**
 * Applies one event of the job's log (an SSE event) to `state` (pure). Returns `state` itself when
 * the event changes nothing: another job's, already applied (a replay after a resume), or a
 * `snapshot` older than what is known. Events up to the known snapshot's seq only rebuild the
 * output; `resync` starts over from its snapshot.
 */
export function foldEvent<Output>(state: JobState<Output>, ev: JobEvent<Output>): JobState<Output> {
  if (!ev || typeof ev !== 'object') return state;
  if (state.job && ev.job_id !== state.job.job_id) return state;
  const reset = (ev.type === 'snapshot' || ev.type === 'resync') && !!ev.job;
  if (!reset && state.seq !== null && ev.seq <= state.seq) return state;
  if (reset && ev.type === 'snapshot' && state.job && ev.job!.seq < state.job.seq) return state;

  let { job, output, retryError } = state;
  if (ev.type === 'resync') output = '';
  if (ev.type === 'status' && ev.status === 'working') output = '';
  if (ev.type === 'output' && typeof ev.text === 'string') output += ev.text;
  if (ev.type === 'status') retryError = ev.status === 'retrying' ? (ev.error ?? null) : null;

  if (reset) {
    job = ev.job!;
    if (job.status !== 'retrying') retryError = null;
  } else if (!job || ev.seq > job.seq) {
    job = applyEvent(job, ev);
    if (job.terminal) retryError = null;
  }
  return settle({ job, output, seq: ev.seq, retryError });
}

/**
 * Applies a full snapshot from a poll, a long-poll, `/cable` or an API answer (a cancel) to `state`
 * (pure). It replaces the job when it is newer (or newly terminal) and moves the position to its
 * seq; output is not in snapshots, so it stays — except that a new attempt starts it over, and a
 * terminal job without any shows the result's `text`. Returns `state` itself when nothing changed.
 */
export function foldSnapshot<Output>(state: JobState<Output>, snap: Job<Output>): JobState<Output> {
  if (!snap || typeof snap !== 'object') return state;
  const prev = state.job;
  if (prev && snap.job_id !== prev.job_id) return state;
  const newer = !prev || snap.seq > prev.seq || (snap.terminal && !prev.terminal);
  const seq = state.seq === null ? snap.seq : Math.max(state.seq, snap.seq);
  if (!newer && seq === state.seq) return state;
  let next: JobState<Output> = { ...state, seq };
  if (newer) {
    next = {
      ...next,
      job: snap,
      output: prev && snap.attempt !== prev.attempt ? '' : state.output,
      retryError: snap.status === 'retrying' ? state.retryError : null,
    };
  }
  return settle(next);
}

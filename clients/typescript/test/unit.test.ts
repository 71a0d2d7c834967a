// Pure functions only: the parts of the client that need no server.
import { describe, expect, it } from 'vitest';
import {
  AiJobsError,
  RateLimitError,
  UnavailableError,
  applyEvent,
  foldEvent,
  foldSnapshot,
  initialJobState,
  isTerminalEvent,
  parseRetryAfter,
  type Job,
  type JobEvent,
} from '../src/index.js';
import { errorFromResponse } from '../src/errors.js';

describe('errorFromResponse', () => {
  it('maps 429 and 503 with Retry-After', async () => {
    const e429 = await errorFromResponse(
      new Response(JSON.stringify({ error: 'slow down', code: 'rate_limited' }), { status: 429, headers: { 'Retry-After': '7' } }),
    );
    expect(e429).toBeInstanceOf(RateLimitError);
    expect(e429).toMatchObject({ status: 429, code: 'rate_limited', retryAfter: 7, message: 'slow down', retryable: true });
    const e503 = await errorFromResponse(
      new Response(JSON.stringify({ error: 'down', code: 'store_unavailable' }), { status: 503, headers: { 'Retry-After': '2' } }),
    );
    expect(e503).toBeInstanceOf(UnavailableError);
    expect(e503.retryAfter).toBe(2);
  });

  it('copes with a body that is not the error JSON', async () => {
    const e = await errorFromResponse(new Response('<html>bad gateway</html>', { status: 502 }));
    expect(e).toBeInstanceOf(AiJobsError);
    expect(e).toMatchObject({ status: 502, code: 'unexpected_response', retryAfter: null });
  });

  it('parses Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(null)).toBeNull();
    const inTen = new Date(Date.now() + 10_000).toUTCString();
    expect(parseRetryAfter(inTen)).toBeGreaterThanOrEqual(8);
  });
});

describe('applyEvent', () => {
  const base: Job = {
    job_id: 'job_x', status: 'queued', terminal: false, progress: 0, seq: 1, attempt: 0, result: null, error: null,
    created_at: 't0', started_at: null, finished_at: null, expires_at: 't9',
  };
  const ev = (e: Partial<JobEvent>): JobEvent => ({ job_id: 'job_x', at: 't', status: 'working', progress: 0, seq: 0, type: 'status', terminal: false, ...e });

  it('follows status, progress, completion; progress never decreases', () => {
    let j = applyEvent(base, ev({ seq: 2, type: 'status', status: 'working', attempt: 1 }));
    expect(j).toMatchObject({ status: 'working', seq: 2, attempt: 1, started_at: 't' });
    j = applyEvent(j, ev({ seq: 3, type: 'progress', progress: 40 }));
    j = applyEvent(j, ev({ seq: 4, type: 'output', progress: 30, text: 'hi' }));
    expect(j.progress).toBe(40);
    const result = { intent: 'general', output: {}, text: 'hi', usage_info: {} as never };
    j = applyEvent(j, ev({ seq: 5, type: 'completed', status: 'completed', progress: 100, result, terminal: true }));
    expect(j).toMatchObject({ status: 'completed', terminal: true, progress: 100, result, finished_at: 't', intent: 'general' });
  });

  it('takes terminal from the event\'s flag, on every type', () => {
    expect(isTerminalEvent(ev({ type: 'failed', status: 'failed', terminal: true }))).toBe(true);
    expect(isTerminalEvent(ev({ type: 'cancelled', status: 'cancelled', terminal: true }))).toBe(true);
    expect(isTerminalEvent(ev({ type: 'status', status: 'retrying' }))).toBe(false);
    expect(isTerminalEvent(ev({ type: 'snapshot', terminal: true, job: { ...base, terminal: true } }))).toBe(true);
    expect(isTerminalEvent(ev({ type: 'snapshot', job: { ...base } }))).toBe(false);
    // One rule: the flag, not a list of types.
    expect(isTerminalEvent(ev({ type: 'completed', status: 'completed' }))).toBe(false);
    const s = applyEvent(base, ev({ type: 'resync', seq: 9, job: { ...base, seq: 9, status: 'working' } }));
    expect(s.seq).toBe(9);
  });
});

describe('foldEvent and foldSnapshot (the one fold of the client and the dashboard)', () => {
  const snap = (o: Partial<Job> = {}): Job => ({
    job_id: 'job_f', status: 'queued', terminal: false, progress: 0, seq: 1, attempt: 0, result: null, error: null,
    created_at: 't0', started_at: null, finished_at: null, expires_at: 't9', ...o,
  });
  const ev = (e: Partial<JobEvent>): JobEvent => ({ job_id: 'job_f', at: 't', status: 'working', progress: 0, seq: 0, type: 'status', terminal: false, ...e });
  const fold = (events: JobEvent[], from = initialJobState()) => events.reduce(foldEvent, from);
  const result = { intent: 'general', output: {}, text: 'the final text', usage_info: {} as never };
  const retried = [
    ev({ seq: 1, type: 'status', status: 'queued' }),
    ev({ seq: 2, type: 'status', status: 'working', attempt: 1 }),
    ev({ seq: 3, type: 'output', text: 'half of ' }),
    ev({ seq: 4, type: 'output', text: 'attempt one' }),
    ev({ seq: 5, type: 'status', status: 'retrying', attempt: 1, retry_at: 't5', error: { code: 'provider_error', message: 'boom' } }),
    ev({ seq: 6, type: 'status', status: 'working', attempt: 2 }),
    ev({ seq: 7, type: 'output', text: 'attempt two' }),
  ];

  it("starts the output over on every working status: an interrupted attempt's output is not glued to the next", () => {
    const s5 = fold(retried.slice(0, 5));
    expect(s5.output).toBe('half of attempt one');
    expect(s5.job).toMatchObject({ status: 'retrying', retry_at: 't5', attempt: 1 });
    expect(s5.retryError).toEqual({ code: 'provider_error', message: 'boom' });
    const s7 = fold(retried);
    expect(s7.output).toBe('attempt two');
    expect(s7.retryError).toBeNull();
    expect(s7.job).toMatchObject({ status: 'working', attempt: 2, seq: 7 });
    expect(s7.seq).toBe(7);
  });

  it('ignores a replayed event and another job\'s, returning the same state', () => {
    const s = fold(retried);
    expect(foldEvent(s, retried[6]!)).toBe(s);
    expect(foldEvent(s, ev({ seq: 8, job_id: 'job_other', type: 'output', text: 'x' }))).toBe(s);
    expect(foldEvent(s, ev({ seq: 2, type: 'snapshot', job: snap({ seq: 2 }) }))).toBe(s); // older snapshot
  });

  it('rebuilds only the output from a replay up to a snapshot it already has, then follows', () => {
    const known = snap({ seq: 7, status: 'working', attempt: 2, progress: 50 });
    const s = fold(retried, initialJobState(known));
    expect(s.job).toBe(known); // the replay did not touch the snapshot
    expect(s.output).toBe('attempt two');
    const done = foldEvent(s, ev({ seq: 8, type: 'completed', status: 'completed', progress: 100, result, terminal: true }));
    expect(done.job).toMatchObject({ status: 'completed', terminal: true, progress: 100 });
    expect(done.output).toBe('attempt two'); // streamed output wins over result.text
  });

  it('restarts on resync and shows result.text for a finished job with no streamed output', () => {
    const s = fold(retried);
    const r = foldEvent(s, ev({ seq: 20, type: 'resync', status: 'completed', terminal: true, job: snap({ seq: 20, status: 'completed', terminal: true, result }) }));
    expect(r.output).toBe('the final text');
    expect(r.seq).toBe(20);
  });

  it('takes polled snapshots: newer ones, a new attempt starts the output over, the position moves', () => {
    const s = fold(retried.slice(0, 4));
    expect(foldSnapshot(s, snap({ seq: 4, status: 'working', attempt: 1 }))).toBe(s); // nothing new
    const same = foldSnapshot(s, snap({ seq: 5, status: 'working', attempt: 1, progress: 30 }));
    expect(same.output).toBe('half of attempt one');
    expect(same.job?.progress).toBe(30);
    const next = foldSnapshot(same, snap({ seq: 9, status: 'working', attempt: 2 }));
    expect(next.output).toBe('');
    // A finished job opened from a snapshot: one poll with the same seq reads it to its end.
    const opened = initialJobState(snap({ seq: 9, status: 'completed', terminal: true, result }));
    const read = foldSnapshot(opened, opened.job!);
    expect(read).not.toBe(opened);
    expect(read).toMatchObject({ seq: 9, output: 'the final text' });
  });
});

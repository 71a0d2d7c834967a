// Pure functions only: the parts of the client that need no server.
import { describe, expect, it } from 'vitest';
import {
  AiJobsError,
  RateLimitError,
  UnavailableError,
  applyEvent,
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

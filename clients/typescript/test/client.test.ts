import { describe, expect, it } from 'vitest';
import {
  AiJobsError,
  BadRequestError,
  ConflictError,
  createClient,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  ValidationError,
  isAiJobsError,
} from '../src/index.js';
import type { CompletedResult } from '../src/index.js';
import { makeClient, server, uniq, waitTerminal } from './helpers.js';

const USER = 'ts-client';

describe('client against a real server', () => {
  it('submits, answers 202 with a snapshot and a stream token, and the job completes', async () => {
    const c = makeClient(USER);
    const res = await c.submit({ input: 'Help me set a SMART goal to run a 10k' });
    expect(res.created).toBe(true);
    expect(res.message).toBe('AI request queued for processing');
    expect(res.job_id).toMatch(/^job_/);
    expect(res.location).toBe(`/api/v1/jobs/${res.job_id}`);
    expect(res.status).toBe('queued');
    expect(res.terminal).toBe(false);
    expect(typeof res.stream_token).toBe('string');
    const done = await waitTerminal(c, res.job_id);
    expect(done.status).toBe('completed');
    expect(done.progress).toBe(100);
    const result = done.result as CompletedResult;
    expect(typeof result.intent).toBe('string');
    expect(result.usage_info).toMatchObject({ provider: expect.any(String), tokens_out: expect.any(Number) });
  });

  it('is idempotent by request_id and by Idempotency-Key; a different body is 409', async () => {
    const c = makeClient(USER);
    const requestId = uniq();
    const a = await c.submit({ input: 'prioritize my tasks for today', requestId });
    const b = await c.submit({ input: 'prioritize my tasks for today', requestId });
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.job_id).toBe(a.job_id);
    const err = await c.submit({ input: 'something else entirely', requestId }).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ status: 409, code: 'idempotency_conflict' });

    const key = uniq('idem');
    const x = await c.submit({ input: 'hello there', idempotencyKey: key });
    const y = await c.submit({ input: 'hello there', idempotencyKey: key });
    expect(y.job_id).toBe(x.job_id);
    expect(y.created).toBe(false);
  });

  it('answers 304 to a matching ETag and long-polls with ?wait=', async () => {
    const c = makeClient(USER);
    const sub = await c.submit('Set a goal: read 12 books this year');
    const first = await c.getJobIfChanged(sub.job_id);
    expect(first.job).not.toBeNull();
    expect(first.etag).toBe(`"${first.job!.seq}"`);

    if (!first.job!.terminal) {
      // The long poll answers as soon as the job passes our version.
      const t0 = Date.now();
      const next = await c.getJobIfChanged(sub.job_id, { etag: first.etag, wait: 20 });
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(next.notModified).toBe(false);
      expect(next.job!.seq).toBeGreaterThan(first.job!.seq);
    }

    const final = await waitTerminal(c, sub.job_id);
    const same = await c.getJobIfChanged(sub.job_id, { etag: `"${final.seq}"` });
    expect(same).toMatchObject({ notModified: true, job: null });
    const waited = await c.getJobIfChanged(sub.job_id, { etag: `"${final.seq}"`, wait: 1 });
    expect(waited.notModified).toBe(true);
    const since = await c.getJobIfChanged(sub.job_id, { since: final.seq - 1, wait: 5 });
    expect(since.job?.seq).toBe(final.seq);
    expect(since.pollIntervalMs).toBeNull(); // no X-Poll-Interval once terminal

    const bad = await c.getJobIfChanged(sub.job_id, { wait: 61 }).catch((e) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad).toMatchObject({ status: 422, code: 'invalid_wait' });
  });

  it('lists jobs newest first with status filter and cursor', async () => {
    const c = makeClient(USER);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await c.submit(`list me ${i} ${uniq()}`)).job_id);
    const page1 = await c.listJobs({ limit: 2 });
    expect(page1.jobs).toHaveLength(2);
    expect(page1.jobs[0]!.job_id).toBe(ids[2]);
    expect(page1.jobs[1]!.job_id).toBe(ids[1]);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const page2 = await c.listJobs({ limit: 2, cursor: page1.next_cursor });
    expect(page2.jobs[0]!.job_id).toBe(ids[0]);

    await Promise.all(ids.map((id) => waitTerminal(c, id)));
    const completed = await c.listJobs({ status: 'completed', limit: 100 });
    expect(completed.jobs.every((j) => j.status === 'completed')).toBe(true);
    expect(completed.jobs.map((j) => j.job_id)).toEqual(expect.arrayContaining(ids));

    const bad = await c.listJobs({ status: 'bogus' as never }).catch((e) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad).toMatchObject({ status: 422, code: 'invalid_field' });
  });

  it('cancels (POST and DELETE); a second cancel is 409 job_terminal; cancelled stays cancelled', async () => {
    const c = makeClient(USER);
    const a = await c.submit(`a long answer please ${uniq()}`);
    const cancelled = await c.cancelJob(a.job_id);
    expect(cancelled).toMatchObject({ job_id: a.job_id, status: 'cancelled', terminal: true });
    expect(cancelled.error).toMatchObject({ code: expect.any(String) });
    const again = await c.cancelJob(a.job_id).catch((e) => e);
    expect(again).toBeInstanceOf(ConflictError);
    expect(again).toMatchObject({ status: 409, code: 'job_terminal' });

    const b = await c.submit(`another one ${uniq()}`);
    const viaDelete = await c.cancelJob(b.job_id, { method: 'DELETE' });
    expect(viaDelete.status).toBe('cancelled');

    await new Promise((r) => setTimeout(r, 1500));
    expect((await c.getJob(a.job_id)).status).toBe('cancelled');
    expect((await c.getJob(b.job_id)).status).toBe('cancelled');
  });

  it('reports usage and issues stream tokens', async () => {
    const c = makeClient(USER);
    const u = await c.usage();
    expect(u).toMatchObject({
      requests_used: expect.any(Number),
      requests_limit: expect.any(Number),
      requests_remaining: expect.any(Number),
      resets_at: expect.any(String),
      tokens_in: expect.any(Number),
      tokens_out: expect.any(Number),
      user_key_requests: expect.any(Number),
    });
    const st = await c.streamToken();
    expect(st.stream_token).toMatch(/^st_/);
    expect(Number.isNaN(Date.parse(st.expires_at))).toBe(false);
    expect(await c.ready()).toBe(true);
    expect(await c.healthy()).toBe(true);
  });

  it('throws typed errors: 404, 401, 422, 413, 400, 409', async () => {
    const c = makeClient(USER);

    const nf = await c.getJob('job_doesnotexist000000000000').catch((e) => e);
    expect(nf).toBeInstanceOf(NotFoundError);
    expect(nf).toBeInstanceOf(AiJobsError);
    expect(nf).toMatchObject({ status: 404, code: 'not_found' });
    expect(isAiJobsError(nf, 'not_found')).toBe(true);

    // Another user's job is 404 too, never 403.
    const mine = await c.submit(`private ${uniq()}`);
    const other = makeClient('ts-other');
    const cross = await other.getJob(mine.job_id).catch((e) => e);
    expect(cross).toMatchObject({ status: 404, code: 'not_found' });
    const crossCancel = await other.cancelJob(mine.job_id).catch((e) => e);
    expect(crossCancel).toMatchObject({ status: 404, code: 'not_found' });

    const anon = createClient({ baseUrl: server().baseUrl, token: 'not-a-real-token' });
    const un = await anon.getJob(mine.job_id).catch((e) => e);
    expect(un).toBeInstanceOf(UnauthorizedError);
    expect(un).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(await anon.usage().catch((e) => e)).toBeInstanceOf(UnauthorizedError);

    const empty = await c.submit({ input: '' }).catch((e) => e);
    expect(empty).toBeInstanceOf(ValidationError);
    expect(empty).toMatchObject({ status: 422, code: 'invalid_input' });
    expect(typeof empty.message).toBe('string');

    const badKey = await c.submit({ input: 'hello', userProvidedKey: 'nope' }).catch((e) => e);
    expect(badKey).toBeInstanceOf(ValidationError);
    expect(badKey).toMatchObject({ status: 422, code: 'invalid_key' });

    const big = await c.submit({ input: 'x'.repeat(33 * 1024) }).catch((e) => e);
    expect(big).toBeInstanceOf(PayloadTooLargeError);
    expect(big).toMatchObject({ status: 413, code: 'input_too_large' });

    const malformed = await c
      .request('/api/v1/ai/proxy', { method: 'POST', body: '{"input":', headers: { 'Content-Type': 'application/json' } })
      .catch((e) => e);
    expect(malformed).toBeInstanceOf(BadRequestError);
    expect(malformed).toMatchObject({ status: 400, code: 'invalid_json' });

    const tooBig = await c
      .request('/api/v1/ai/proxy', { method: 'POST', body: JSON.stringify({ input: 'x'.repeat(70_000) }) })
      .catch((e) => e);
    expect(tooBig).toBeInstanceOf(PayloadTooLargeError);
    expect(tooBig).toMatchObject({ status: 413, code: 'body_too_large' });
  });

  it('never accepts the API token in a stream URL', async () => {
    const c = makeClient(USER);
    const { tokens } = server();
    const sub = await c.submit(`stream auth ${uniq()}`);
    const res = await fetch(c.jobEventsUrl(sub.job_id, tokens[USER]!));
    await res.body?.cancel();
    expect(res.status).toBe(401);
    const ok = await fetch(c.jobEventsUrl(sub.job_id, sub.stream_token!), { headers: { Accept: 'text/event-stream' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await ok.body?.cancel();
  });

  it('maps an unreachable server to NetworkError (status 0)', async () => {
    const c = createClient({ baseUrl: 'http://127.0.0.1:1', token: 'x' });
    const err = await c.usage().catch((e) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err).toMatchObject({ status: 0, code: 'network_error', retryable: true });
  });
});

// @vitest-environment jsdom
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, render, renderHook, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider, skipToken } from '@tanstack/react-query';
import { StrictMode, type ReactNode } from 'react';
import { createClient, type AiJobsClient, type CompletedResult, type JobEvent } from '../src/index.js';
import {
  AiJobsProvider,
  activeJobWatches,
  jobQueryOptions,
  useAiProxy,
  useJob,
  useJobEvents,
  useJobStatus,
} from '../src/react.js';
import { EventSource, countingFetch, expectConsecutive, server, sleep, trackingEventSource, uniq } from './helpers.js';

const USER = 'ts-react';

beforeAll(() => {
  // jsdom has no EventSource; the hooks find the npm one on globalThis, as they would find a browser's.
  (globalThis as { EventSource?: unknown }).EventSource = EventSource;
});
afterEach(() => cleanup());

function setup(opts: { transport?: 'poll'; EventSource?: any } = {}) {
  const { baseUrl, tokens } = server();
  const counter = countingFetch();
  const client = createClient({ baseUrl, token: tokens[USER]!, fetch: counter.fetch, ...opts });
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const wrapper = ({ children }: { children: ReactNode }) => (
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <AiJobsProvider client={client}>{children}</AiJobsProvider>
      </QueryClientProvider>
    </StrictMode>
  );
  return { client, queryClient, wrapper, calls: counter.calls, Providers: wrapper };
}

const getsOf = (calls: { method: string; url: string }[], jobId: string) =>
  calls.filter((c) => c.method === 'GET' && new URL(c.url).pathname === `/api/v1/jobs/${jobId}`).length;

const streamsOf = <T extends { url: string }>(instances: T[], jobId: string): T[] =>
  instances.filter((i) => new URL(i.url).pathname === `/api/v1/jobs/${jobId}/events`);

describe('useJobStatus', () => {
  it('follows the job live over the shared watch: one GET, one stream, nothing after terminal', async () => {
    const { ES, instances } = trackingEventSource();
    const { client, wrapper, calls, queryClient } = setup({ EventSource: ES });
    const sub = await client.submit(`follow until done ${uniq()}`);
    const { result } = renderHook(() => useJobStatus(sub.job_id), { wrapper });
    await waitFor(() => expect(result.current.data?.terminal).toBe(true), { timeout: 25_000 });
    expect(result.current.data?.status).toBe('completed');
    expect(getsOf(calls, sub.job_id)).toBe(1); // the snapshot; the rest came over SSE
    expect(streamsOf(instances, sub.job_id)).toHaveLength(1);
    await sleep(2500);
    expect(getsOf(calls, sub.job_id)).toBe(1);
    cleanup();
    await waitFor(() => expect(activeJobWatches(queryClient)).toEqual([]));
  });

  it('polls every 2 s and stops at terminal with live: false (the original hook)', async () => {
    const { client, wrapper, calls } = setup();
    const sub = await client.submit(`poll until done ${uniq()}`);
    const { result } = renderHook(() => useJobStatus(sub.job_id, { live: false }), { wrapper });
    await waitFor(() => expect(result.current.data?.terminal).toBe(true), { timeout: 25_000 });
    expect(result.current.data?.status).toBe('completed');
    const atTerminal = getsOf(calls, sub.job_id);
    expect(atTerminal).toBeGreaterThanOrEqual(1);
    await sleep(4500); // two more intervals: no request may follow
    expect(getsOf(calls, sub.job_id)).toBe(atTerminal);
  });

  it('is idle without a job id and stops on 404', async () => {
    const { wrapper, calls } = setup();
    const idle = renderHook(() => useJobStatus(null), { wrapper });
    expect(idle.result.current.fetchStatus).toBe('idle');
    const missing = renderHook(() => useJobStatus('job_missing000000000000000', { intervalMs: 100, live: false }), { wrapper });
    await waitFor(() => expect(missing.result.current.error).toMatchObject({ status: 404, code: 'not_found' }));
    await sleep(500);
    expect(getsOf(calls, 'job_missing000000000000000')).toBe(1);
    const live = renderHook(() => useJobStatus('job_missing222222222222222'), { wrapper });
    await waitFor(() => expect(live.result.current.error).toMatchObject({ status: 404 }));
    await sleep(300);
    expect(getsOf(calls, 'job_missing222222222222222')).toBe(1); // the query's GET, shared by the watch
  });
});

describe('one watch per job, shared by every hook and component', () => {
  it('opens one stream and one GET for four components on the same job, and stops with the last', async () => {
    const { ES, instances } = trackingEventSource();
    const { client, queryClient, Providers, calls } = setup({ EventSource: ES });
    const sub = await client.submit(`shared watch ${uniq()}`);
    const id = sub.job_id;
    const Status = () => {
      const q = useJobStatus(id);
      return <p data-testid="status">{q.data ? `${q.data.status} ${q.data.progress}%` : 'loading'}</p>;
    };
    const Output = ({ testId }: { testId: string }) => {
      const ev = useJobEvents(id);
      return <pre data-testid={testId}>{`${ev.events.length}:${ev.output.length}:${ev.transport ?? 'none'}`}</pre>;
    };
    const Badge = () => {
      const j = useJob(id);
      return <span data-testid="badge">{j.data?.terminal ? 'done' : 'running'}</span>;
    };
    const App = ({ show }: { show: { output: boolean; badge: boolean } }) => (
      <Providers>
        <Status />
        {show.output && <Output testId="output" />}
        <Output testId="output-2" />
        {show.badge && <Badge />}
      </Providers>
    );
    const view = render(<App show={{ output: true, badge: true }} />);
    await waitFor(() => expect(view.getByTestId('output').textContent).toMatch(/:sse$/));
    expect(activeJobWatches(queryClient)).toEqual([id]);
    view.rerender(<App show={{ output: false, badge: true }} />); // one leaves: the watch stays
    await waitFor(() => expect(view.getByTestId('badge').textContent).toBe('done'), { timeout: 25_000 });
    expect(view.getByTestId('status').textContent).toBe('completed 100%');
    expect(queryClient.getQueryData(jobQueryOptions(client, id).queryKey)).toMatchObject({ status: 'completed', terminal: true });
    expect(streamsOf(instances, id)).toHaveLength(1); // StrictMode's double mount included
    expect(getsOf(calls, id)).toBe(1); // also under StrictMode's unmount and remount of every hook
    const [events] = view.getByTestId('output-2').textContent!.split(':');
    expect(Number(events)).toBeGreaterThan(0);
    view.unmount();
    await waitFor(() => expect(activeJobWatches(queryClient)).toEqual([]));
    expect(streamsOf(instances, id).every((i) => i.es.readyState === 2)).toBe(true); // closed
  });

  it('starts from the cached snapshot without a GET, and the job-status query is idle (skipToken) without an id', async () => {
    const { ES, instances } = trackingEventSource();
    const { client, queryClient, wrapper, calls } = setup({ EventSource: ES });
    const sub = await client.submit(`cached start ${uniq()}`);
    queryClient.setQueryData(jobQueryOptions(client, sub.job_id).queryKey, sub);
    const { result } = renderHook(() => useJob(sub.job_id), { wrapper });
    await waitFor(() => expect(result.current.data?.terminal).toBe(true), { timeout: 25_000 });
    expect(result.current.output.length).toBeGreaterThan(0);
    expect(getsOf(calls, sub.job_id)).toBe(0);
    expect(streamsOf(instances, sub.job_id)).toHaveLength(1);
    const idle = renderHook(() => useJob(null), { wrapper });
    expect(idle.result.current.fetchStatus).toBe('idle');
    expect(idle.result.current.output).toBe('');
    expect(jobQueryOptions(client, null).queryFn).toBe(skipToken);
  });
});

describe('useAiProxy', () => {
  async function seed(queryClient: QueryClient, keys: string[]) {
    for (const k of keys) queryClient.setQueryData([k], { seeded: true });
  }

  it('queues, follows the job, invalidates the mapped keys and fills ai-usage', async () => {
    const { queryClient, wrapper, calls } = setup();
    await seed(queryClient, ['smartGoals', 'tasks', 'unrelated']);
    let terminalCalls = 0;
    const { result } = renderHook(() => useAiProxy({ onTerminal: () => terminalCalls++ }), { wrapper });
    expect(result.current.isLoading).toBe(false);
    const res = await result.current.mutateAsync({
      input: 'I want a SMART goal: run a half marathon by June',
      requestId: uniq(),
    });
    expect(res.job_id).toMatch(/^job_/);
    await waitFor(() => expect(result.current.jobId).toBe(res.job_id));
    await waitFor(() => expect(result.current.isJobComplete).toBe(true), { timeout: 25_000 });
    const job = result.current.jobStatus!;
    expect(job.terminal).toBe(true);
    expect(result.current.progress).toBe(100);
    expect(result.current.isLoading).toBe(false);
    expect(result.current.isJobFailed).toBe(false);
    expect(result.current.error).toBeNull();
    expect(result.current.output.length).toBeGreaterThan(0);
    const r = job.result as CompletedResult;
    expect(r.intent).toBe('smart_goal');
    await waitFor(() => expect(queryClient.getQueryData(['ai-usage'])).toEqual(r.usage_info));
    expect(queryClient.getQueryState(['smartGoals'])?.isInvalidated).toBe(true);
    expect(queryClient.getQueryState(['tasks'])?.isInvalidated).toBe(false);
    expect(queryClient.getQueryState(['unrelated'])?.isInvalidated).toBe(false);
    expect(queryClient.getQueryData(['job-status', res.job_id])).toMatchObject({ status: 'completed' });
    expect(terminalCalls).toBe(1); // once, even under StrictMode's double effects
    // The submit body followed the API: input, user_provided_key, request_id.
    expect(calls.filter((c) => c.method === 'POST' && c.url.endsWith('/api/v1/ai/proxy'))).toHaveLength(1);
  });

  it('uses the invalidate override and the prioritization intent', async () => {
    const { queryClient, wrapper } = setup();
    await seed(queryClient, ['tasks', 'board', 'smartGoals']);
    const { result } = renderHook(
      () => useAiProxy({
          invalidate: { prioritization: [['board']] },
          getUserProvidedKey: async () => 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789',
        }),
      { wrapper },
    );
    await result.current.mutateAsync('Prioritize my tasks: taxes, groceries, gym, email');
    await waitFor(() => expect(result.current.isJobTerminal).toBe(true), { timeout: 25_000 });
    expect((result.current.jobStatus!.result as CompletedResult).intent).toBe('prioritization');
    expect(queryClient.getQueryState(['board'])?.isInvalidated).toBe(true);
    expect(queryClient.getQueryState(['tasks'])?.isInvalidated).toBe(false);
    expect(queryClient.getQueryState(['smartGoals'])?.isInvalidated).toBe(false);
    // The key from getUserProvidedKey was sent and used.
    expect(queryClient.getQueryData(['ai-usage'])).toMatchObject({ user_key_used: true });
  });

  it("still invalidates and fills ai-usage when the component is gone before the job ends", async () => {
    const { queryClient, wrapper } = setup();
    await seed(queryClient, ['smartGoals']);
    let terminal = 0;
    const { result, unmount } = renderHook(() => useAiProxy({ onTerminal: () => terminal++ }), { wrapper });
    const res = await result.current.mutateAsync(`A SMART goal for reading 20 books ${uniq()}`);
    unmount(); // at once: the job is still running
    expect(activeJobWatches(queryClient)).toEqual([res.job_id]); // the mutation's hold keeps it
    await waitFor(() => expect(queryClient.getQueryState(['smartGoals'])?.isInvalidated).toBe(true), { timeout: 25_000 });
    expect(queryClient.getQueryData(['ai-usage'])).toMatchObject({ provider: 'offline' });
    expect(terminal).toBe(1);
    await waitFor(() => expect(activeJobWatches(queryClient)).toEqual([])); // and lets go at the end
  });

  it('reports a cancelled job and surfaces a submit error', async () => {
    const { wrapper } = setup();
    const { result } = renderHook(() => useAiProxy(), { wrapper });
    await result.current.mutateAsync(`cancel this one ${uniq()}`);
    await waitFor(() => expect(result.current.jobId).not.toBeNull());
    await result.current.cancel();
    await waitFor(() => expect(result.current.isJobCancelled).toBe(true), { timeout: 10_000 });
    expect(result.current.isJobComplete).toBe(false);
    expect(result.current.isLoading).toBe(false);

    await expect(result.current.mutateAsync({ input: '' })).rejects.toMatchObject({ status: 422, code: 'invalid_input' });
    await waitFor(() => expect(result.current.error).toMatchObject({ code: 'invalid_input' }));
  });
});

describe('useJobEvents', () => {
  it('streams events over SSE with the snapshot and the output', async () => {
    const { client, wrapper, queryClient } = setup();
    const sub = await client.submit('A SMART goal for saving money, please');
    const { result } = renderHook(() => useJobEvents(sub.job_id), { wrapper });
    await waitFor(() => expect(result.current.transport).toBe('sse'));
    await waitFor(() => expect(result.current.isTerminal).toBe(true), { timeout: 25_000 });
    const { events, snapshot, output } = result.current;
    expect(snapshot?.status).toBe('completed');
    expect(result.current.progress).toBe(100);
    expect(events.some((e: JobEvent) => e.synthetic)).toBe(false);
    expectConsecutive(events.map((e) => e.seq));
    expect(output).toBe(events.filter((e) => e.type === 'output').map((e) => e.text).join(''));
    expect(output.length).toBeGreaterThan(0);
    expect(queryClient.getQueryData(['job-status', sub.job_id])).toMatchObject({ terminal: true });
  });

  it("follows by polling with transport: 'poll'", async () => {
    const { client, wrapper } = setup({ transport: 'poll' });
    const sub = await client.submit(`poll events ${uniq()}`);
    const { result } = renderHook(() => useJobEvents(sub.job_id, { pollIntervalMs: 150 }), { wrapper });
    await waitFor(() => expect(result.current.isTerminal).toBe(true), { timeout: 25_000 });
    expect(result.current.events.length).toBeGreaterThan(0);
    expect(result.current.events.every((e) => e.synthetic)).toBe(true);
    expect(result.current.error).toBeNull();
  });

  it('reports 404 as an error', async () => {
    const { wrapper } = setup();
    const { result } = renderHook(() => useJobEvents('job_missing111111111111111'), { wrapper });
    await waitFor(() => expect(result.current.error).toMatchObject({ status: 404 }));
  });
});

export type { AiJobsClient };

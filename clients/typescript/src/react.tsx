import { createContext, useCallback, useContext, useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import {
  isCancelledError,
  queryOptions,
  skipToken,
  useMutation,
  useQuery,
  useQueryClient,
  type QueryClient,
  type QueryKey,
  type UseMutationResult,
  type UseQueryResult,
} from '@tanstack/react-query';
import type { AiJobsClient } from './client.js';
import { AiJobsError } from './errors.js';
import type { ActiveTransport, CompletedResult, Job, JobEvent, SubmitResponse, Transport } from './types.js';
import type { JobWatch, WatchOptions } from './watch.js';

const AiJobsContext = createContext<AiJobsClient | null>(null);

/** Makes `client` available to the hooks. Put it inside a `QueryClientProvider`. */
export function AiJobsProvider({ client, children }: { client: AiJobsClient; children?: ReactNode }) {
  return <AiJobsContext.Provider value={client}>{children}</AiJobsContext.Provider>;
}

/** The client given to the nearest {@link AiJobsProvider}. */
export function useAiJobsClient(): AiJobsClient {
  const client = useContext(AiJobsContext);
  if (!client) throw new Error('aijobs: wrap your tree in <AiJobsProvider client={createClient(…)}>');
  return client;
}

/** The query key of a job's snapshot: `['job-status', jobId]`. */
export function jobStatusKey(jobId: string | null | undefined) {
  return ['job-status', jobId] as const;
}

/** The query key the usage info of completed jobs is written to: `['ai-usage']`. */
export const aiUsageKey: QueryKey = ['ai-usage'];

/** Default intent → query keys to invalidate when a job completes. */
export const DEFAULT_INVALIDATE: Readonly<Record<string, QueryKey[]>> = Object.freeze({
  smart_goal: [['smartGoals']],
  prioritization: [['tasks']],
});

/** 401/403/404: asking again cannot help. */
function isFinal(err: unknown): boolean {
  return err instanceof AiJobsError && (err.status === 401 || err.status === 403 || err.status === 404);
}

function isAbort(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { name?: string }).name === 'AbortError';
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * The query of a job's snapshot, `['job-status', jobId]`, for `useQuery`, `useSuspenseQuery`,
 * `prefetchQuery`…: one GET of the job, or `skipToken` (an idle query) without a job id. Its data
 * is pushed by the job's watch (see {@link acquireJobWatch}; {@link useJob} does both), so it is
 * never stale (`staleTime: Infinity`): a second component on the same job reads the cache, it does
 * not fetch again. Retries only what may succeed later (not 401/403/404). The GET does not take
 * React Query's AbortSignal: it is short, and a component that unmounts while it runs (or that
 * StrictMode mounts twice) then leaves it to fill the cache instead of having it asked again.
 */
export function jobQueryOptions<Output = unknown>(client: AiJobsClient, jobId: string | null | undefined) {
  return queryOptions<Job<Output>, Error, Job<Output>, readonly ['job-status', string | null | undefined]>({
    queryKey: jobStatusKey(jobId),
    queryFn: jobId ? () => client.getJob<Output>(jobId) : skipToken,
    staleTime: Infinity,
    retry: (failures, err) => !isFinal(err) && failures < 2,
  });
}

// ---- one watch per job and QueryClient -------------------------------------------------------

/** What a job's shared watch knows beyond the snapshot (which is in the query cache). */
export interface JobLive<Output = unknown> {
  /** Every event the watch received, in order, each once (SSE events, or synthesized from polled snapshots). */
  readonly events: readonly JobEvent<Output>[];
  /** The current attempt's output (fold.ts: it starts over on a new attempt), or the result's text. */
  readonly output: string;
  /** How the job is followed now; null before the watch starts and once it ended. */
  readonly transport: ActiveTransport | null;
  /** Why the watch stopped early (401, 404, …); null otherwise. */
  readonly error: Error | null;
  /** The watch saw the job terminal. */
  readonly done: boolean;
}

const IDLE: JobLive<any> = Object.freeze({ events: [], output: '', transport: null, error: null, done: false });

/**
 * Options of a job's watch (`watchJob`'s, less what the registry sets itself); those of the hold
 * that starts the watch apply, `onEvent` and `onTransport` included.
 */
export type JobWatchOptions<Output = unknown> = Omit<WatchOptions<Output>, 'onSnapshot' | 'onOutput' | 'signal' | 'snapshot'>;

interface Entry {
  readonly client: AiJobsClient;
  refs: number;
  stopTimer: ReturnType<typeof setTimeout> | undefined;
  stopped: boolean;
  watch: JobWatch<any> | null;
  live: JobLive<any>;
  /** Resolves with the terminal snapshot; rejects when the watch fails or is stopped first. */
  readonly done: Promise<Job<any>>;
  readonly settle: Settle;
}

interface Registry {
  entries: Map<string, Entry>;
  listeners: Map<string, Set<() => void>>;
}

// Guarded by nothing: JavaScript runs one callback at a time. Per QueryClient, because the data
// the watches write lives in that client's cache.
const registries = new WeakMap<QueryClient, Registry>();

function registryOf(queryClient: QueryClient): Registry {
  let r = registries.get(queryClient);
  if (!r) {
    r = { entries: new Map(), listeners: new Map() };
    registries.set(queryClient, r);
  }
  return r;
}

function notify(r: Registry, jobId: string) {
  for (const l of [...(r.listeners.get(jobId) ?? [])]) l();
}

interface Settle {
  resolve: (job: Job<any>) => void;
  reject: (err: unknown) => void;
}

function startEntry(queryClient: QueryClient, r: Registry, jobId: string, entry: Entry, opts: JobWatchOptions<any>) {
  const set = (patch: Partial<JobLive<any>>) => {
    if (r.entries.get(jobId) !== entry) return;
    entry.live = { ...entry.live, ...patch };
    notify(r, jobId);
  };
  const follow = (snapshot: Job<any> | undefined) => {
    if (entry.stopped) return;
    const watch = entry.client.watchJob(jobId, {
      ...opts,
      snapshot,
      onEvent: (ev) => {
        set({ events: [...entry.live.events, ev] });
        opts.onEvent?.(ev);
      },
      onSnapshot: (job) => {
        if (!entry.stopped) queryClient.setQueryData(jobStatusKey(jobId), job);
      },
      onOutput: (output) => set({ output }),
      onTransport: (transport, why) => {
        set({ transport });
        opts.onTransport?.(transport, why);
      },
    });
    entry.watch = watch;
    watch.done.then(
      (job) => {
        set({ transport: null, done: true });
        entry.settle.resolve(job);
      },
      (err) => {
        if (!isAbort(err)) set({ transport: null, error: asError(err) });
        entry.settle.reject(err);
      },
    );
  };
  // The snapshot the cache has (the submit answer, another component's), else one GET — shared
  // with a useQuery of the same key that is fetching it now. A GET that failed for a reason that
  // may pass (503, the network) leaves the watch to get the snapshot itself, with its backoff.
  // A fetch cancelled under us (queryClient.cancelQueries) is asked again, joining any new one.
  const first = (tries: number): void => {
    queryClient.fetchQuery(jobQueryOptions(entry.client, jobId)).then(follow, (err) => {
      if (entry.stopped) return;
      if (isCancelledError(err) && tries < 3) return first(tries + 1);
      if (!isFinal(err)) return follow(undefined);
      set({ error: asError(err) });
      entry.settle.reject(err);
    });
  };
  first(0);
}

/** A hold on a job's shared watch: {@link acquireJobWatch}. */
export interface JobWatchHandle<Output = unknown> {
  /** Resolves with the terminal snapshot; rejects when the watch fails (401, 404) or stops first. */
  readonly done: Promise<Job<Output>>;
  /** What the watch knows now (events, output, transport, error). */
  live(): JobLive<Output>;
  /** Lets go of the hold (idempotent); the last one stops the watch. */
  release(): void;
}

/**
 * Holds the one watch of `jobId` in `queryClient` (reference counted): the first hold starts it —
 * from the cached snapshot, else one GET, then SSE, `/cable` or long-poll as `watchJob` does — and
 * every later one shares it; when the last is released the watch stops (after the current task,
 * so React's StrictMode remount does not open a second stream). The watch writes each new
 * snapshot to the cache with `setQueryData(['job-status', jobId], job)`. The hooks call this;
 * call it yourself to follow a job outside React. The client and `opts` of the hold that starts
 * the watch are the ones it uses.
 */
export function acquireJobWatch<Output = unknown>(
  queryClient: QueryClient,
  client: AiJobsClient,
  jobId: string,
  opts: JobWatchOptions<Output> = {},
): JobWatchHandle<Output> {
  const r = registryOf(queryClient);
  let entry = r.entries.get(jobId);
  if (entry && entry.stopTimer !== undefined) {
    clearTimeout(entry.stopTimer);
    entry.stopTimer = undefined;
  }
  if (!entry) {
    let settle!: Settle;
    const done = new Promise<Job<any>>((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => {}); // a stopped watch is not an unhandled rejection
    const created: Entry = { client, refs: 0, stopTimer: undefined, stopped: false, watch: null, live: IDLE, done, settle };
    entry = created;
    r.entries.set(jobId, created);
    startEntry(queryClient, r, jobId, created, opts as JobWatchOptions<any>);
    notify(r, jobId);
  }
  const held = entry;
  held.refs++;
  let released = false;
  return {
    done: held.done as Promise<Job<Output>>,
    live: () => held.live as JobLive<Output>,
    release() {
      if (released) return;
      released = true;
      if (--held.refs > 0) return;
      held.stopTimer = setTimeout(() => {
        held.stopTimer = undefined;
        if (held.refs > 0 || r.entries.get(jobId) !== held) return;
        held.stopped = true;
        held.watch?.close();
        held.settle.reject(Object.assign(new Error('The watch was stopped'), { name: 'AbortError' }));
        r.entries.delete(jobId);
        notify(r, jobId);
      }, 0);
    },
  };
}

/** The ids of the jobs whose shared watch `queryClient` holds now (for tests and diagnostics). */
export function activeJobWatches(queryClient: QueryClient): string[] {
  return [...(registries.get(queryClient)?.entries.keys() ?? [])];
}

/**
 * Holds the shared watch of `jobId` while the component is mounted (none without an id or with
 * `enabled: false`) and returns what it knows beyond the snapshot. Read the snapshot with
 * `useQuery(jobQueryOptions(client, jobId))`, or use {@link useJob}, which does both.
 */
export function useJobWatch<Output = unknown>(
  jobId: string | null | undefined,
  options: JobWatchOptions<Output> & { enabled?: boolean } = {},
): JobLive<Output> {
  const client = useAiJobsClient();
  const queryClient = useQueryClient();
  const optsRef = useRef(options);
  optsRef.current = options;
  const active = !!jobId && (options.enabled ?? true);

  useEffect(() => {
    if (!active || !jobId) return;
    const { enabled: _enabled, ...watchOpts } = optsRef.current;
    const handle = acquireJobWatch<Output>(queryClient, client, jobId, watchOpts);
    return () => handle.release();
  }, [queryClient, client, jobId, active]);

  const subscribe = useCallback(
    (onChange: () => void) => {
      if (!jobId) return () => {};
      const r = registryOf(queryClient);
      let set = r.listeners.get(jobId);
      if (!set) r.listeners.set(jobId, (set = new Set()));
      set.add(onChange);
      return () => {
        set!.delete(onChange);
        if (set!.size === 0 && r.listeners.get(jobId) === set) r.listeners.delete(jobId);
      };
    },
    [queryClient, jobId],
  );
  const read = () => ((active && jobId && registries.get(queryClient)?.entries.get(jobId)?.live) || IDLE) as JobLive<Output>;
  return useSyncExternalStore(subscribe, read, read);
}

// ---- useJob / useJobStatus -------------------------------------------------------------------

export interface UseJobOptions<Output = unknown> extends JobWatchOptions<Output> {
  enabled?: boolean;
}

/** {@link useJob}'s answer: the query of `['job-status', jobId]` and what its watch knows. */
export type UseJobResult<Output = unknown> = UseQueryResult<Job<Output>, Error> & {
  /** The current attempt's output streamed so far, or the result's text. */
  output: string;
  /** How the job is followed now (null once it ended). */
  transport: ActiveTransport | null;
  /** Why the watch stopped before the job ended (the query's own error is `error`). */
  watchError: Error | null;
};

/**
 * A job's snapshot, live: `useQuery(jobQueryOptions(client, jobId))` plus the job's shared watch
 * (SSE first, `/cable` where there is no EventSource, long-poll and polling as fallbacks), which
 * keeps `['job-status', jobId]` up to date. However many components show the job, there is one
 * GET and one stream; without a job id the query is idle (`skipToken`).
 */
export function useJob<Output = unknown>(
  jobId: string | null | undefined,
  options: UseJobOptions<Output> = {},
): UseJobResult<Output> {
  const client = useAiJobsClient();
  const enabled = options.enabled ?? true;
  const query = useQuery({ ...jobQueryOptions<Output>(client, jobId), enabled });
  const live = useJobWatch<Output>(jobId, options);
  return { ...query, output: live.output, transport: live.transport, watchError: live.error };
}

export interface UseJobStatusOptions {
  /**
   * Polling interval in ms: with `live: false`, the query's `refetchInterval` while the job is not
   * terminal (default 2000); otherwise the watch's interval if it falls back to plain polling.
   */
  intervalMs?: number;
  enabled?: boolean;
  /** false: the original's plain polling of GET /api/v1/jobs/{id} instead of the shared watch. Default true. */
  live?: boolean;
}

/**
 * The original system's `useJobStatus(jobId)`: the job's snapshot under `['job-status', jobId]`,
 * now kept live by the shared watch ({@link useJob}). With `live: false` it polls every 2 s until
 * the job is `terminal` with React Query v5's `refetchInterval: (query) => …` (a v4-style
 * `(data) => …` never stops), and stops on 401/404.
 */
export function useJobStatus<Output = unknown>(
  jobId: string | null | undefined,
  options: UseJobStatusOptions = {},
): UseQueryResult<Job<Output>, Error> {
  const client = useAiJobsClient();
  const live = options.live ?? true;
  const interval = options.intervalMs ?? 2000;
  const enabled = options.enabled ?? true;
  const query = useQuery({
    ...jobQueryOptions<Output>(client, jobId),
    enabled,
    ...(live
      ? {}
      : {
          staleTime: 0,
          retry: false,
          refetchInterval: (q: { state: { data?: Job<Output>; error: unknown } }) =>
            q.state.data?.terminal || isFinal(q.state.error) ? false : interval,
        }),
  });
  useJobWatch<Output>(jobId, { enabled: live && enabled, pollIntervalMs: options.intervalMs });
  return query;
}

// ---- useAiProxy --------------------------------------------------------------------------------

/** What `mutate`/`mutateAsync` of {@link useAiProxy} take: the input, or the full request. */
export type AiProxyVariables =
  | string
  | { input: string; userProvidedKey?: string | null; requestId?: string | null; idempotencyKey?: string };

export interface UseAiProxyOptions<Output = unknown> {
  /**
   * Query keys to invalidate when a job completes, by `result.intent` (replaces the default
   * `{ smart_goal: [['smartGoals']], prioritization: [['tasks']] }`), or a function of the result.
   */
  invalidate?: Record<string, QueryKey[]> | ((result: CompletedResult<Output>, job: Job<Output>) => QueryKey[]);
  /** Called when no `userProvidedKey` is given (the original's `getStoredApiKey`). */
  getUserProvidedKey?: () => string | null | undefined | Promise<string | null | undefined>;
  /** How to follow the job (default: the client's, else SSE first). */
  transport?: Transport;
  /** Extra watch options (EventSource, poll intervals…), used when this hook starts the job's watch. */
  watch?: JobWatchOptions<Output>;
  /** Called once with the terminal snapshot (completed, failed or cancelled). */
  onTerminal?: (job: Job<Output>) => void;
}

export type UseAiProxyResult<Output = unknown> = Omit<
  UseMutationResult<SubmitResponse<Output>, Error, AiProxyVariables>,
  'error' | 'reset' | 'isLoading'
> & {
  /** The job being followed. */
  jobId: string | null;
  /** Its latest snapshot (the query `['job-status', jobId]`). */
  jobStatus: Job<Output> | undefined;
  /** 0–100. */
  progress: number;
  /** The current attempt's output streamed so far, or the result's text. */
  output: string;
  /** How the job is followed now. */
  transport: ActiveTransport | null;
  isJobComplete: boolean;
  isJobFailed: boolean;
  isJobCancelled: boolean;
  isJobTerminal: boolean;
  /** Submitting, or following a job that is not terminal yet. */
  isLoading: boolean;
  error: Error | null;
  /** Cancels the followed job. */
  cancel: () => Promise<Job<Output> | undefined>;
  /** Forgets the mutation and the followed job. */
  reset: () => void;
};

/**
 * The original system's `useAiProxy()`: a mutation that queues an AI request, then follows its job
 * through the job's shared watch. Its side effects live in the mutation's callbacks: `onSuccess`
 * seeds `['job-status', jobId]` with the submit answer (so following costs no GET) and holds the
 * watch until the job ends — also when the component is gone — and then invalidates the query keys
 * mapped to the result's intent, puts `result.usage_info` into `['ai-usage']` and calls
 * `onTerminal`, once per job.
 */
export function useAiProxy<Output = unknown>(options: UseAiProxyOptions<Output> = {}): UseAiProxyResult<Output> {
  const client = useAiJobsClient();
  const queryClient = useQueryClient();
  const optsRef = useRef(options);
  optsRef.current = options;
  const [jobId, setJobId] = useState<string | null>(null);
  const watchOpts: JobWatchOptions<Output> = { ...options.watch, transport: options.transport ?? options.watch?.transport };
  const job = useJob<Output>(jobId, watchOpts);

  const mutation = useMutation<SubmitResponse<Output>, Error, AiProxyVariables>({
    mutationFn: async (vars) => {
      const v = typeof vars === 'string' ? { input: vars } : vars;
      let key = v.userProvidedKey;
      if (key === undefined && optsRef.current.getUserProvidedKey) {
        key = (await optsRef.current.getUserProvidedKey()) ?? null;
      }
      return client.submit<Output>({ ...v, userProvidedKey: key ?? null });
    },
    onSuccess: (res) => {
      const { message: _message, created: _created, location: _location, ...snapshot } = res;
      queryClient.setQueryData(jobStatusKey(res.job_id), snapshot);
      setJobId(res.job_id);
      const o = optsRef.current;
      const hold = acquireJobWatch<Output>(queryClient, client, res.job_id, {
        ...o.watch,
        transport: o.transport ?? o.watch?.transport,
      });
      hold.done.then((final) => onJobEnd(queryClient, optsRef.current, final)).then(hold.release, hold.release);
    },
  });

  const mutationReset = mutation.reset;
  const reset = useCallback(() => {
    mutationReset();
    setJobId(null);
  }, [mutationReset]);

  const cancel = useCallback(
    async () => (jobId ? client.cancelJob<Output>(jobId) : undefined),
    [client, jobId],
  );

  const snapshot = jobId ? job.data : undefined;
  const status = snapshot?.status;
  const followError = jobId ? (job.error ?? job.watchError) : null;
  return {
    ...mutation,
    jobId,
    jobStatus: snapshot,
    progress: snapshot?.progress ?? 0,
    output: jobId ? job.output : '',
    transport: jobId ? job.transport : null,
    isJobComplete: status === 'completed',
    isJobFailed: status === 'failed',
    isJobCancelled: status === 'cancelled',
    isJobTerminal: !!snapshot?.terminal,
    isLoading: mutation.isPending || (!!jobId && !snapshot?.terminal && !followError),
    error: mutation.error ?? followError,
    cancel,
    reset,
  };
}

/** Once a submitted job ended: invalidate by intent, usage_info into ['ai-usage'], onTerminal. */
function onJobEnd<Output>(queryClient: QueryClient, opts: UseAiProxyOptions<Output>, job: Job<Output>) {
  if (job.status === 'completed' && job.result && 'usage_info' in job.result) {
    const result = job.result as CompletedResult<Output>;
    const intent = result.intent ?? job.intent;
    const keys =
      typeof opts.invalidate === 'function'
        ? opts.invalidate(result, job)
        : ((opts.invalidate ?? DEFAULT_INVALIDATE)[String(intent)] ?? []);
    for (const queryKey of keys) void queryClient.invalidateQueries({ queryKey });
    if (result.usage_info) queryClient.setQueryData(aiUsageKey, result.usage_info);
  }
  opts.onTerminal?.(job);
}

// ---- useJobEvents ------------------------------------------------------------------------------

export interface UseJobEventsOptions<Output = unknown> extends JobWatchOptions<Output> {
  enabled?: boolean;
}

export interface UseJobEventsResult<Output = unknown> {
  /** The snapshot (the query `['job-status', jobId]`, kept up to date by the watch). */
  snapshot: Job<Output> | null;
  /** Every event the job's watch received, in order. */
  events: readonly JobEvent<Output>[];
  /** The current attempt's output streamed so far, or the result's text. */
  output: string;
  status: Job['status'] | undefined;
  progress: number;
  isTerminal: boolean;
  transport: ActiveTransport | null;
  error: Error | null;
}

/** Live events of one job, from its shared watch (SSE first, then long-poll, then polling). */
export function useJobEvents<Output = unknown>(
  jobId: string | null | undefined,
  options: UseJobEventsOptions<Output> = {},
): UseJobEventsResult<Output> {
  const client = useAiJobsClient();
  const query = useQuery({ ...jobQueryOptions<Output>(client, jobId), enabled: options.enabled ?? true });
  const live = useJobWatch<Output>(jobId, options);
  const snapshot = (jobId && query.data) || null;
  return {
    snapshot,
    events: live.events,
    output: live.output,
    status: snapshot?.status,
    progress: snapshot?.progress ?? 0,
    isTerminal: !!snapshot?.terminal,
    transport: live.transport,
    error: query.error ?? live.error,
  };
}

export type { AiJobsClient } from './client.js';

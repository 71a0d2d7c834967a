import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import {
  useMutation,
  useQuery,
  useQueryClient,
  type QueryKey,
  type UseMutationResult,
  type UseQueryResult,
} from '@tanstack/react-query';
import type { AiJobsClient } from './client.js';
import { AiJobsError } from './errors.js';
import type { ActiveTransport, CompletedResult, Job, JobEvent, SubmitResponse, Transport } from './types.js';
import type { WatchOptions } from './watch.js';

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
export function jobStatusKey(jobId: string | null | undefined): QueryKey {
  return ['job-status', jobId];
}

/** The query key the usage info of completed jobs is written to: `['ai-usage']`. */
export const aiUsageKey: QueryKey = ['ai-usage'];

/** Default intent → query keys to invalidate when a job completes. */
export const DEFAULT_INVALIDATE: Readonly<Record<string, QueryKey[]>> = Object.freeze({
  smart_goal: [['smartGoals']],
  prioritization: [['tasks']],
});

function stopsPolling(err: unknown): boolean {
  return err instanceof AiJobsError && (err.status === 401 || err.status === 403 || err.status === 404);
}

function isAbort(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { name?: string }).name === 'AbortError';
}

export interface UseJobStatusOptions {
  /** Polling interval in ms while the job is not terminal (default 2000). */
  intervalMs?: number;
  enabled?: boolean;
}

/**
 * Polls GET /api/v1/jobs/{id} every 2 s until the job is `terminal` (query key `['job-status', jobId]`).
 * Polling also stops on 401/404, which cannot get better by asking again.
 */
export function useJobStatus<Output = unknown>(
  jobId: string | null | undefined,
  options: UseJobStatusOptions = {},
): UseQueryResult<Job<Output> | null, Error> {
  const client = useAiJobsClient();
  const interval = options.intervalMs ?? 2000;
  return useQuery<Job<Output> | null, Error>({
    queryKey: ['job-status', jobId],
    queryFn: async ({ signal }) => (jobId ? client.getJob<Output>(jobId, { signal }) : null),
    enabled: !!jobId && (options.enabled ?? true),
    // React Query v5 passes the query, not the data (a v4-style `(data) => …` never stops).
    refetchInterval: (query) =>
      query.state.data?.terminal ? false : stopsPolling(query.state.error) ? false : interval,
    retry: false,
    staleTime: 0,
  });
}

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
  /** Extra watch options (EventSource, poll intervals…). */
  watch?: Omit<WatchOptions<Output>, 'onSnapshot' | 'onOutput' | 'signal' | 'snapshot'>;
  /** Called once with the terminal snapshot (completed, failed or cancelled). */
  onTerminal?: (job: Job<Output>) => void;
}

export type UseAiProxyResult<Output = unknown> = Omit<
  UseMutationResult<SubmitResponse<Output>, Error, AiProxyVariables>,
  'error' | 'reset' | 'isLoading'
> & {
  /** The job being followed. */
  jobId: string | null;
  /** Its latest snapshot. */
  jobStatus: Job<Output> | undefined;
  /** 0–100. */
  progress: number;
  /** The model output streamed so far. */
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
 * Queues an AI request and follows its job (SSE first, then long-poll, then polling). On completion
 * it invalidates the query keys mapped to the result's intent and puts `result.usage_info` into the
 * `['ai-usage']` cache; every snapshot also goes to `['job-status', jobId]`.
 */
export function useAiProxy<Output = unknown>(options: UseAiProxyOptions<Output> = {}): UseAiProxyResult<Output> {
  const client = useAiJobsClient();
  const queryClient = useQueryClient();
  const optsRef = useRef(options);
  optsRef.current = options;
  const handled = useRef(new Set<string>());

  const [followed, setFollowed] = useState<SubmitResponse<Output> | null>(null);
  const [snapshot, setSnapshot] = useState<Job<Output> | undefined>(undefined);
  const [output, setOutput] = useState('');
  const [transport, setTransport] = useState<ActiveTransport | null>(null);
  const [watchError, setWatchError] = useState<Error | null>(null);

  const mutation = useMutation<SubmitResponse<Output>, Error, AiProxyVariables>({
    mutationFn: async (vars) => {
      const v = typeof vars === 'string' ? { input: vars } : vars;
      let key = v.userProvidedKey;
      if (key === undefined && optsRef.current.getUserProvidedKey) {
        key = (await optsRef.current.getUserProvidedKey()) ?? null;
      }
      const res = await client.submit<Output>({ ...v, userProvidedKey: key ?? null });
      setWatchError(null);
      setOutput('');
      setSnapshot(res);
      queryClient.setQueryData(['job-status', res.job_id], res);
      setFollowed(res);
      return res;
    },
  });

  useEffect(() => {
    if (!followed) return;
    let active = true;
    const o = optsRef.current;
    const watch = client.watchJob<Output>(followed.job_id, {
      ...o.watch,
      transport: o.transport ?? o.watch?.transport,
      snapshot: followed,
      onSnapshot: (job) => {
        if (!active) return;
        setSnapshot(job);
        queryClient.setQueryData(['job-status', job.job_id], job);
      },
      onOutput: (text) => active && setOutput(text),
      onTransport: (t, why) => {
        if (active) setTransport(t);
        o.watch?.onTransport?.(t, why);
      },
    });
    watch.done.then(
      (job) => {
        if (!active || handled.current.has(job.job_id)) return;
        handled.current.add(job.job_id);
        setTransport(null);
        const opts = optsRef.current;
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
      },
      (err) => {
        if (active && !isAbort(err)) setWatchError(err instanceof Error ? err : new Error(String(err)));
      },
    );
    return () => {
      active = false;
      watch.close();
    };
  }, [followed, client, queryClient]);

  const mutationReset = mutation.reset;
  const reset = useCallback(() => {
    mutationReset();
    setFollowed(null);
    setSnapshot(undefined);
    setOutput('');
    setTransport(null);
    setWatchError(null);
  }, [mutationReset]);

  const jobId = followed?.job_id ?? null;
  const cancel = useCallback(
    async () => (jobId ? client.cancelJob<Output>(jobId) : undefined),
    [client, jobId],
  );

  const status = snapshot?.status;
  return {
    ...mutation,
    jobId,
    jobStatus: snapshot,
    progress: snapshot?.progress ?? 0,
    output,
    transport,
    isJobComplete: status === 'completed',
    isJobFailed: status === 'failed',
    isJobCancelled: status === 'cancelled',
    isJobTerminal: !!snapshot?.terminal,
    isLoading: mutation.isPending || (!!followed && !snapshot?.terminal && !watchError),
    error: mutation.error ?? watchError,
    cancel,
    reset,
  };
}

export interface UseJobEventsOptions<Output = unknown>
  extends Omit<WatchOptions<Output>, 'onEvent' | 'onSnapshot' | 'onOutput' | 'onTransport' | 'signal'> {
  enabled?: boolean;
}

export interface UseJobEventsResult<Output = unknown> {
  /** The local snapshot, kept up to date from the events. */
  snapshot: Job<Output> | null;
  /** Every event received, in order. */
  events: JobEvent<Output>[];
  /** The output text accumulated from `output` events. */
  output: string;
  status: Job['status'] | undefined;
  progress: number;
  isTerminal: boolean;
  transport: ActiveTransport | null;
  error: Error | null;
}

interface EventsState<Output> {
  snapshot: Job<Output> | null;
  events: JobEvent<Output>[];
  output: string;
  transport: ActiveTransport | null;
  error: Error | null;
}

function emptyEvents<Output>(): EventsState<Output> {
  return { snapshot: null, events: [], output: '', transport: null, error: null };
}

/** Live events of one job via `watchJob` (SSE first, then long-poll, then polling). */
export function useJobEvents<Output = unknown>(
  jobId: string | null | undefined,
  options: UseJobEventsOptions<Output> = {},
): UseJobEventsResult<Output> {
  const client = useAiJobsClient();
  const queryClient = useQueryClient();
  const optsRef = useRef(options);
  optsRef.current = options;
  const [state, setState] = useState<EventsState<Output>>(emptyEvents);
  const enabled = options.enabled ?? true;
  const transportOpt = options.transport;

  useEffect(() => {
    setState(emptyEvents());
    if (!jobId || !enabled) return;
    let active = true;
    const { enabled: _enabled, ...watchOpts } = optsRef.current;
    const watch = client.watchJob<Output>(jobId, {
      ...watchOpts,
      onEvent: (ev) => active && setState((s) => ({ ...s, events: [...s.events, ev] })),
      onSnapshot: (job) => {
        if (!active) return;
        setState((s) => ({ ...s, snapshot: job }));
        queryClient.setQueryData(['job-status', jobId], job);
      },
      onOutput: (output) => active && setState((s) => ({ ...s, output })),
      onTransport: (transport) => active && setState((s) => ({ ...s, transport })),
    });
    watch.done.then(
      () => active && setState((s) => ({ ...s, transport: null })),
      (err) => {
        if (active && !isAbort(err)) {
          setState((s) => ({ ...s, transport: null, error: err instanceof Error ? err : new Error(String(err)) }));
        }
      },
    );
    return () => {
      active = false;
      watch.close();
    };
  }, [client, queryClient, jobId, enabled, transportOpt]);

  return {
    ...state,
    status: state.snapshot?.status,
    progress: state.snapshot?.progress ?? 0,
    isTerminal: !!state.snapshot?.terminal,
  };
}

export type { AiJobsClient } from './client.js';

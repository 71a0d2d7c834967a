import { inject } from 'vitest';
import { EventSource } from 'eventsource';
import { createClient, type AiJobsClient, type ClientOptions, type Job } from '../src/index.js';

export const server = () => inject('aijobs');

export { EventSource };

/** A fetch that counts requests by method and path. */
export function countingFetch() {
  const calls: { method: string; url: string; status?: number }[] = [];
  const f: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const entry: { method: string; url: string; status?: number } = { method: init?.method ?? 'GET', url };
    calls.push(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    return res;
  };
  return { fetch: f, calls };
}

export function makeClient(user: string, extra: Partial<ClientOptions> = {}): AiJobsClient {
  const { baseUrl, tokens } = server();
  const token = tokens[user];
  if (!token) throw new Error(`no token for ${user}`);
  return createClient({ baseUrl, token, EventSource: EventSource as any, ...extra });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until the job is terminal (test helper; the client's own watch is under test elsewhere). */
export async function waitTerminal(client: AiJobsClient, jobId: string, timeoutMs = 20_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.getJob(jobId);
    if (job.terminal) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} not terminal after ${timeoutMs} ms: ${job.status}`);
    await sleep(100);
  }
}

/** Asserts ids strictly increase by one: none missing, none twice. */
export function expectConsecutive(seqs: number[]) {
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] !== seqs[i - 1]! + 1) {
      throw new Error(`event ids not consecutive at ${i}: ${seqs.join(',')}`);
    }
  }
}

let n = 0;
export const uniq = (p = 'req') => `${p}-${Date.now().toString(36)}-${(n++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** An EventSource class that records every instance, its URL and the raw ids it received. */
export function trackingEventSource() {
  const instances: { url: string; es: EventSource; ids: number[] }[] = [];
  class Tracked extends EventSource {
    constructor(url: string | URL, init?: ConstructorParameters<typeof EventSource>[1]) {
      super(url, init);
      const rec = { url: String(url), es: this as EventSource, ids: [] as number[] };
      instances.push(rec);
      this.addEventListener('message', (m) => rec.ids.push(Number(m.lastEventId)));
    }
  }
  return { ES: Tracked, instances };
}

// @vitest-environment jsdom
// The seed's own component code (ORIGINAL.md, "Basic Usage in Component"), with only its import
// line changed, against a real aijobs server: the button says `Processing... N%` while the job
// runs, the failure text shows for a failed job, and on completion the queries of the result's
// intent are invalidated and result.usage_info lands in ['ai-usage'].
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, waitFor } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createClient, type CompletedResult, type Job } from '../src/index.js';
import { AiJobsProvider } from '../src/react.js';
import { MyComponent } from './original-component.js';
import { EventSource, server } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const ORIGINAL = join(here, '..', '..', '..', '..', 'shared', 'ORIGINAL.md');
const IN_CI = process.env.CI === 'true';

beforeAll(() => {
  (globalThis as { EventSource?: unknown }).EventSource = EventSource;
});
afterEach(() => cleanup());

function mount() {
  const { baseUrl, tokens } = server();
  const client = createClient({ baseUrl, token: tokens['ts-original']! });
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  for (const k of ['smartGoals', 'tasks', 'unrelated']) queryClient.setQueryData([k], { seeded: true });
  const view = render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <AiJobsProvider client={client}>
          <MyComponent />
        </AiJobsProvider>
      </QueryClientProvider>
    </StrictMode>,
  );
  const button = view.getByRole('button');
  // Every title the button shows, in order.
  const titles: string[] = [button.textContent ?? ''];
  new MutationObserver(() => {
    const t = button.textContent ?? '';
    if (t !== titles[titles.length - 1]) titles.push(t);
  }).observe(button, { childList: true, characterData: true, subtree: true });
  const submit = (text: string) => {
    fireEvent.change(view.getByPlaceholderText('Describe your goal...'), { target: { value: text } });
    fireEvent.click(button);
  };
  const job = () => {
    // ['job-status', null] (idle, before the submit) and the submitted job's.
    const q = queryClient.getQueryCache().findAll({ queryKey: ['job-status'] }).filter((x) => x.queryKey[1]);
    expect(q).toHaveLength(1);
    return q[0]!.state.data as Job;
  };
  const invalidated = (k: string) => queryClient.getQueryState([k])?.isInvalidated;
  return { view, button, titles, submit, job, invalidated, queryClient };
}

const processing = /^Processing\.\.\. (\d+)%$/;

describe("the seed's component code (ORIGINAL.md), unchanged but for its import", () => {
  it.skipIf(!existsSync(ORIGINAL) && !IN_CI)('is verbatim ORIGINAL.md (../shared/ORIGINAL.md; skipped when it is not beside the repository)', () => {
    const md = readFileSync(ORIGINAL, 'utf8');
    const block = /### 1\. Basic Usage in Component\n\n```typescript\n([\s\S]*?)```/.exec(md)?.[1];
    expect(block).toBeTruthy();
    const file = readFileSync(join(here, 'original-component.tsx'), 'utf8');
    const body = /\/\/ ---- ORIGINAL\.md, verbatim from here ----\n([\s\S]*?)\/\/ ---- ORIGINAL\.md, verbatim up to here ----\n/.exec(file)?.[1];
    const changed = block!.replace("import { useAiProxy } from '@/hooks/useAiProxy';", "import { useAiProxy } from '../src/react.js';");
    expect(changed).not.toBe(block); // the import line was there to change
    expect(body).toBe(changed);
  });

  it('shows Processing... N% while a smart goal runs, then invalidates ["smartGoals"] and fills ["ai-usage"]', async () => {
    const { view, button, titles, submit, job, invalidated, queryClient } = mount();
    expect(button.textContent).toBe('Generate Goals');
    expect(button).toHaveProperty('disabled', true); // no input yet
    submit('I want a SMART goal: run a half marathon by June');
    await waitFor(() => expect(invalidated('smartGoals')).toBe(true), { timeout: 25_000 });
    await waitFor(() => expect(button.textContent).toBe('Generate Goals'));
    const shown = titles.filter((t) => processing.test(t));
    const percents = shown.map((t) => Number(processing.exec(t)![1]));
    expect(shown.length).toBeGreaterThan(1);
    expect(percents.some((p) => p > 0 && p < 100)).toBe(true); // real progress, not only 0
    expect([...percents].sort((a, b) => a - b)).toEqual(percents); // never backwards
    expect(titles[titles.length - 1]).toBe('Generate Goals');
    const final = job();
    expect(final).toMatchObject({ status: 'completed', terminal: true, progress: 100 });
    const result = final.result as CompletedResult;
    expect(result.intent).toBe('smart_goal');
    expect(queryClient.getQueryData(['ai-usage'])).toEqual(result.usage_info);
    expect(result.usage_info).toMatchObject({ provider: 'offline', user_key_used: false });
    expect(invalidated('tasks')).toBe(false);
    expect(invalidated('unrelated')).toBe(false);
    expect(view.queryByText('Failed to generate goals. Please try again.')).toBeNull();
  });

  it('invalidates ["tasks"] for a prioritization', async () => {
    const { button, submit, job, invalidated, queryClient } = mount();
    submit('Prioritize my tasks: taxes, groceries, gym, email');
    await waitFor(() => expect(invalidated('tasks')).toBe(true), { timeout: 25_000 });
    await waitFor(() => expect(button.textContent).toBe('Generate Goals'));
    expect((job().result as CompletedResult).intent).toBe('prioritization');
    expect(invalidated('smartGoals')).toBe(false);
    expect(queryClient.getQueryData(['ai-usage'])).toEqual((job().result as CompletedResult).usage_info);
  });

  it('shows the failure text for a failed job, invalidates nothing and leaves ["ai-usage"] alone', async () => {
    const { view, button, submit, job, invalidated, queryClient } = mount();
    submit('A SMART goal for learning the cello [[offline:fatal]]');
    await view.findByText('Failed to generate goals. Please try again.', undefined, { timeout: 25_000 });
    expect(view.getByText('Failed to generate goals. Please try again.').className).toBe('text-red-400');
    await waitFor(() => expect(button.textContent).toBe('Generate Goals'));
    expect(job()).toMatchObject({ status: 'failed', terminal: true, error: { code: 'bad_request' } });
    expect(invalidated('smartGoals')).toBe(false);
    expect(invalidated('tasks')).toBe(false);
    expect(queryClient.getQueryData(['ai-usage'])).toBeUndefined();
  });
});

// Rendering of a job's result for its intent. Everything is built with DOM
// calls and textContent: no model output is ever parsed as HTML.

/**
 * h creates an element. attrs sets attributes (class via "class"); children
 * are nodes or strings (strings become text nodes); null/undefined/false are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** pick returns the first of obj's keys whose value is present. */
function pick(obj, ...keys) {
  if (!obj || typeof obj !== 'object') return undefined;
  for (const k of keys) {
    const v = obj[k];
    if (v !== undefined && v !== null && v !== '') return v;
  }
  return undefined;
}

/** text turns a scalar, array or object into readable text. */
function text(v) {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(text).join('; ');
  const main = pick(v, 'description', 'text', 'title', 'name', 'value', 'summary');
  return main !== undefined ? text(main) : JSON.stringify(v);
}

/** asObject parses output that came as a JSON string. */
function asObject(output) {
  if (typeof output === 'string') {
    try { return JSON.parse(output); } catch { return null; }
  }
  return output && typeof output === 'object' ? output : null;
}

const SMART = [
  ['S', 'Specific', ['specific']],
  ['M', 'Measurable', ['measurable']],
  ['A', 'Achievable', ['achievable', 'attainable']],
  ['R', 'Relevant', ['relevant', 'realistic']],
  ['T', 'Time-bound', ['time_bound', 'timebound', 'time_bound_deadline', 'timely', 'time']],
];

function renderSmartGoal(out, result) {
  const frag = [h('h3', {}, 'SMART goal')];
  const goal = pick(out, 'goal', 'smart_goal', 'title', 'statement', 'summary');
  if (goal !== undefined) frag.push(h('p', { class: 'goal', 'data-field': 'goal' }, text(goal)));
  const crit = pick(out, 'smart', 'criteria', 'smart_criteria') || out;
  const dl = h('dl', { class: 'smart' });
  for (const [letter, name, keys] of SMART) {
    const v = pick(crit, ...keys) ?? pick(out, ...keys);
    if (v === undefined) continue;
    dl.append(
      h('dt', {}, h('span', { class: 'letter', 'aria-hidden': 'true' }, letter), name),
      h('dd', { 'data-field': keys[0] }, text(v)),
    );
  }
  if (dl.childElementCount) frag.push(dl);
  const milestones = pick(out, 'milestones', 'steps', 'plan');
  if (Array.isArray(milestones) && milestones.length) {
    frag.push(h('h4', {}, 'Milestones'));
    frag.push(h('ol', { class: 'milestones' }, milestones.map((m) => {
      if (m && typeof m === 'object') {
        const title = pick(m, 'title', 'milestone', 'name', 'description', 'step');
        const when = pick(m, 'due', 'due_date', 'target_date', 'date', 'deadline', 'by', 'week', 'when');
        const detail = pick(m, 'description', 'details', 'metric', 'success_criteria');
        return h('li', {},
          h('strong', {}, text(title ?? m)),
          when !== undefined ? ` — ${text(when)}` : '',
          detail !== undefined && detail !== title ? h('p', { class: 'muted' }, text(detail)) : null);
      }
      return h('li', {}, text(m));
    })));
  }
  return frag;
}

function renderPrioritization(out) {
  const frag = [h('h3', {}, 'Prioritized tasks')];
  let tasks = pick(out, 'tasks', 'prioritized_tasks', 'priorities', 'items') || [];
  if (!Array.isArray(tasks)) tasks = [];
  // priority is an integer, 1 = do first (ai.Schema); order the list by it.
  const rankOf = (t) => (t && typeof t === 'object' ? pick(t, 'rank', 'order', 'position', 'priority') : undefined);
  if (tasks.every((t) => typeof rankOf(t) === 'number')) {
    tasks = [...tasks].sort((a, b) => rankOf(a) - rankOf(b));
  }
  if (tasks.length) {
    frag.push(h('ol', { class: 'tasks' }, tasks.map((t) => {
      if (!t || typeof t !== 'object') return h('li', {}, text(t));
      const name = pick(t, 'task', 'title', 'name', 'description');
      const prio = pick(t, 'priority', 'importance', 'level');
      const reason = pick(t, 'reason', 'rationale', 'why', 'justification');
      return h('li', {},
        h('strong', {}, text(name ?? t)),
        prio !== undefined ? h('span', { class: 'priority' }, `priority ${text(prio)}`) : null,
        reason !== undefined ? h('p', {}, text(reason)) : null);
    })));
  }
  const summary = pick(out, 'summary', 'overview', 'advice');
  if (summary !== undefined) frag.push(h('h4', {}, 'Summary'), h('p', { 'data-field': 'summary' }, text(summary)));
  return frag;
}

function renderGeneral(out, result) {
  const frag = [h('h3', {}, 'Answer')];
  const answer = pick(out, 'answer', 'response', 'text', 'summary') ?? result.text;
  if (answer !== undefined) frag.push(h('p', { 'data-field': 'answer' }, text(answer)));
  const points = pick(out, 'key_points', 'keypoints', 'points', 'highlights');
  if (Array.isArray(points) && points.length) {
    frag.push(h('h4', {}, 'Key points'), h('ul', {}, points.map((p) => h('li', {}, text(p)))));
  }
  return frag;
}

function usageLine(u) {
  if (!u || typeof u !== 'object') return null;
  const parts = [];
  if (u.provider) parts.push(u.model ? `${u.provider} · ${u.model}` : u.provider);
  if (u.tokens_in !== undefined || u.tokens_out !== undefined) {
    parts.push(`${u.tokens_in ?? 0} tokens in, ${u.tokens_out ?? 0} out`);
  }
  if (u.user_key_used) parts.push('your own key');
  else if (u.requests_limit) parts.push(`${u.requests_used ?? 0} of ${u.requests_limit} requests today`);
  return parts.length ? h('p', { class: 'usage-info' }, parts.join(' · ')) : null;
}

/** errorOf returns {code, message} for a failed or cancelled job. */
export function errorOf(job) {
  const e = job.error || {};
  const message = e.message || (job.result && job.result.error) ||
    (job.status === 'cancelled' ? 'The job was cancelled.' : 'The job failed.');
  return { code: e.code || '', message: String(message) };
}

/**
 * renderResult fills container with the job's outcome: the result for its
 * intent when completed, the error when failed or cancelled, nothing otherwise.
 */
export function renderResult(container, job) {
  container.replaceChildren();
  if (!job) return;
  if (job.status === 'failed' || job.status === 'cancelled') {
    const { code, message } = errorOf(job);
    container.append(h('div', { class: 'notice notice-error', 'data-outcome': job.status },
      h('strong', {}, job.status === 'failed' ? 'Failed: ' : 'Cancelled: '),
      message,
      code ? h('span', { class: 'error-code' }, ' (code ', h('code', {}, code), ')') : null));
    return;
  }
  if (job.status !== 'completed' || !job.result) return;
  const result = job.result;
  const intent = result.intent || job.intent || 'general';
  const out = asObject(result.output);
  let body;
  if (!out) {
    body = [h('h3', {}, 'Result'), h('p', {}, result.text || text(result.output))];
  } else if (intent === 'smart_goal') {
    body = renderSmartGoal(out, result);
  } else if (intent === 'prioritization') {
    body = renderPrioritization(out);
  } else {
    body = renderGeneral(out, result);
  }
  container.append(h('article', { class: 'result-body', 'data-intent': intent }, body, usageLine(result.usage_info)));
}

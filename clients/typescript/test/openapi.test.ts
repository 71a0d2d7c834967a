// What the server really sends matches api/openapi.json — the document src/openapi.ts (and so
// every wire type of this client) is generated from: each answer and event of a real server is
// checked against its schema, with every required field present, no field the schema does not
// name, and the right JSON types. A field the server adds without documenting it fails here.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JobEvent } from '../src/index.js';
import { makeClient, server, uniq, waitTerminal } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const doc = JSON.parse(readFileSync(join(here, '..', '..', '..', 'api', 'openapi.json'), 'utf8'));

type Schema = Record<string, any>;

function resolve(s: Schema): Schema {
  while (s && s.$ref) {
    const name = String(s.$ref).replace('#/components/schemas/', '');
    s = doc.components.schemas[name];
    if (!s) throw new Error(`unknown $ref ${name}`);
  }
  return s;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** The problems of `v` against `schema`, as "path: what" lines (a small JSON Schema subset). */
function check(schema: Schema, v: unknown, path = '$'): string[] {
  const s = resolve(schema);
  if (s.oneOf) {
    const fits = (s.oneOf as Schema[]).filter((alt) => check(alt, v, path).length === 0);
    return fits.length === 1 ? [] : [`${path}: fits ${fits.length} of the oneOf alternatives: ${JSON.stringify(v)?.slice(0, 200)}`];
  }
  if (s.allOf) {
    const parts = (s.allOf as Schema[]).map(resolve);
    const merged: Schema = { type: 'object', required: [], properties: {} };
    for (const p of parts) {
      const q = p.allOf ? flatten(p) : p;
      merged.required.push(...(q.required ?? []));
      Object.assign(merged.properties, q.properties ?? {});
    }
    return check(merged, v, path);
  }
  const problems: string[] = [];
  const types: string[] = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  const t = typeOf(v);
  if (types.length && !types.includes(t) && !(t === 'integer' && types.includes('number'))) {
    return [`${path}: ${t}, want ${types.join('|')}`];
  }
  if (s.enum && !s.enum.includes(v)) problems.push(`${path}: ${JSON.stringify(v)} not in ${s.enum.join(', ')}`);
  if (s.const !== undefined && v !== s.const) problems.push(`${path}: ${JSON.stringify(v)}, want ${JSON.stringify(s.const)}`);
  if (t === 'object' && (s.properties || s.required)) {
    const obj = v as Record<string, unknown>;
    for (const k of s.required ?? []) if (!(k in obj)) problems.push(`${path}.${k}: missing (required)`);
    for (const [k, val] of Object.entries(obj)) {
      const ps = s.properties?.[k];
      if (!ps) {
        if (!s.additionalProperties) problems.push(`${path}.${k}: sent, but not in the schema`);
        continue;
      }
      problems.push(...check(ps, val, `${path}.${k}`));
    }
  }
  if (t === 'array' && s.items) (v as unknown[]).forEach((x, i) => problems.push(...check(s.items, x, `${path}[${i}]`)));
  return problems;
}

function flatten(s: Schema): Schema {
  const out: Schema = { required: [], properties: {} };
  for (const p of (s.allOf as Schema[]).map(resolve)) {
    const q = p.allOf ? flatten(p) : p;
    out.required.push(...(q.required ?? []));
    Object.assign(out.properties, q.properties ?? {});
  }
  return out;
}

const schema = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const responseSchema = (path: string, method: string, status: number): Schema =>
  doc.paths[path][method].responses[String(status)].content['application/json'].schema;

const USER = 'ts-contract';

describe('api/openapi.json describes what the server sends', () => {
  it('the checker finds what it should (a missing required field, an undocumented one, a wrong type)', () => {
    expect(check(schema('UsageInfo'), { provider: 'x' })).toContain('$.model: missing (required)');
    expect(check(schema('Error'), { error: 'e', code: 'c', extra: 1 })).toEqual(['$.extra: sent, but not in the schema']);
    expect(check(schema('Job'), { job_id: 1 })).toContain('$.job_id: integer, want string');
    expect(check(schema('Result'), { error: 'boom' })).toEqual([]);
    expect(check(schema('Result'), { intent: 'general' })[0]).toMatch(/fits 0 of the oneOf/);
  });

  it('submit, job snapshots (completed, failed, cancelled), list, usage, stream token and errors', async () => {
    const c = makeClient(USER);
    const { baseUrl, tokens } = server();
    const raw = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(baseUrl + path, {
        ...init,
        headers: { Authorization: `Bearer ${tokens[USER]}`, 'Content-Type': 'application/json', ...init.headers },
      });
      return { status: res.status, body: await res.json() };
    };
    const submit = async (input: string) => {
      const r = await raw('/api/v1/ai/proxy', { method: 'POST', body: JSON.stringify({ input, request_id: uniq() }) });
      expect(r.status).toBe(202);
      expect(check(responseSchema('/api/v1/ai/proxy', 'post', 202), r.body)).toEqual([]);
      return r.body.job_id as string;
    };
    const snapshot = async (id: string) => {
      const r = await raw(`/api/v1/jobs/${id}`);
      expect(check(responseSchema('/api/v1/jobs/{id}', 'get', 200), r.body)).toEqual([]);
      return r.body;
    };

    const done = await submit('A SMART goal for cycling 100 km');
    const failed = await submit('Why is the sky blue? [[offline:fatal]]');
    const slow = await submit(`Plan my week [[offline:slow]] ${uniq()}`);
    expect(await snapshot(slow)).toMatchObject({ terminal: false });
    const cancel = await raw(`/api/v1/jobs/${slow}/cancel`, { method: 'POST' });
    expect(check(responseSchema('/api/v1/jobs/{id}/cancel', 'post', 200), cancel.body)).toEqual([]);
    await waitTerminal(c, done);
    await waitTerminal(c, failed);
    expect(await snapshot(done)).toMatchObject({ status: 'completed' });
    expect(await snapshot(failed)).toMatchObject({ status: 'failed', result: { error: expect.any(String) } });
    expect(await snapshot(slow)).toMatchObject({ status: 'cancelled' });

    const list = await raw('/api/v1/jobs?limit=5');
    expect(check(responseSchema('/api/v1/jobs', 'get', 200), list.body)).toEqual([]);
    const usage = await raw('/api/v1/ai/usage');
    expect(check(responseSchema('/api/v1/ai/usage', 'get', 200), usage.body)).toEqual([]);
    const token = await raw('/api/v1/stream_tokens', { method: 'POST' });
    expect(check(responseSchema('/api/v1/stream_tokens', 'post', 200), token.body)).toEqual([]);
    const missing = await raw('/api/v1/jobs/job_missing333333333333333');
    expect(missing.status).toBe(404);
    expect(check(schema('Error'), missing.body)).toEqual([]);
    const terminal = await raw(`/api/v1/jobs/${slow}/cancel`, { method: 'POST' });
    expect(terminal.status).toBe(409);
    expect(check(schema('Error'), terminal.body)).toEqual([]);
  });

  it('SSE events of a whole job, a snapshot event and a retried job', async () => {
    const c = makeClient(USER);
    const seen: JobEvent[] = [];
    for (const input of ['A SMART goal for cycling 100 km', `[[offline:flaky]] Plan my garden ${uniq()}`]) {
      const sub = await c.submit(input);
      const fromZero = c.watchJob(sub.job_id, { snapshot: sub, onEvent: (e) => seen.push(e) }); // the whole log
      const fromNothing = c.watchJob(sub.job_id, { snapshot: sub, after: null, onEvent: (e) => seen.push(e) }); // snapshot first
      await Promise.all([fromZero.done, fromNothing.done]);
    }
    const types = new Set(seen.map((e) => e.type));
    for (const t of ['snapshot', 'status', 'output', 'completed']) expect(types).toContain(t);
    expect(seen.some((e) => e.type === 'status' && e.status === 'retrying')).toBe(true);
    const problems = seen.flatMap((e, i) => {
      const { synthetic: _synthetic, ...wire } = e;
      return check(schema('Event'), wire, `event[${i}](${e.type})`);
    });
    expect(problems).toEqual([]);
  });
});

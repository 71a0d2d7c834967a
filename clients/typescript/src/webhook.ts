/**
 * Verifying aijobs webhook deliveries in a receiver (Node 20+, Deno, Bun, browsers, workers: Web Crypto only).
 *
 * aijobs signs each delivery as the Standard Webhooks specification says (https://www.standardwebhooks.com):
 * `webhook-signature` holds `v1,<base64 HMAC-SHA256>` of `${webhook-id}.${webhook-timestamp}.${body}`, keyed
 * with the base64 part of the user's `whsec_…` secret (POST /api/v1/webhooks/secret). A delivery may come more
 * than once (it is retried until it is acknowledged): use `webhook-id` to drop the ones already handled.
 */

/** What verifyWebhook throws for a request that is not a genuine, fresh delivery. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** Headers as fetch (`Headers`), Node's `IncomingHttpHeaders` or a plain object give them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, in seconds. Defaults to 300 (the specification's advice). */
  toleranceSeconds?: number;
  /** The clock, for tests. Defaults to now. */
  now?: Date;
}

/** The default `toleranceSeconds`. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

function header(headers: WebhookHeaders, name: string): string {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? '';
  const rec = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : rec[key];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

function fromBase64(s: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

function toBytes(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return new TextEncoder().encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/**
 * Checks that a request is a delivery signed with `secret`: resolves when one of the `v1` signatures matches
 * (compared in constant time by Web Crypto) and the timestamp is within the tolerance; otherwise rejects with a
 * WebhookVerificationError. Pass the raw body exactly as received (a string or bytes), before parsing it:
 * re-serialised JSON does not verify.
 *
 * ```ts
 * const body = await request.text();
 * await verifyWebhook(process.env.AIJOBS_WEBHOOK_SECRET!, request.headers, body);
 * const job = JSON.parse(body); // the job snapshot, as GET /api/v1/jobs/{id} returns it
 * ```
 */
export async function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array | ArrayBuffer,
  options: VerifyWebhookOptions = {},
): Promise<void> {
  const key = fromBase64(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
  if (!key || key.length === 0) throw new Error('verifyWebhook: the secret is not whsec_ and base64');
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !ts || !signatures) {
    throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature');
  }
  if (!/^\d+$/.test(ts)) throw new WebhookVerificationError(`webhook-timestamp ${JSON.stringify(ts)} is not a number`);
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - Number(ts)) > tolerance) {
    throw new WebhookVerificationError(`webhook-timestamp is ${now - Number(ts)} s from now, more than ${tolerance} s`);
  }
  const prefix = new TextEncoder().encode(`${id}.${ts}.`);
  const payload = toBytes(body);
  const signed = new Uint8Array(prefix.length + payload.length);
  signed.set(prefix);
  signed.set(payload, prefix.length);
  const hmac = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  for (const part of signatures.split(' ')) {
    const [version, sig] = part.split(',', 2);
    if (version !== 'v1' || !sig) continue;
    const bytes = fromBase64(sig);
    if (bytes && (await crypto.subtle.verify('HMAC', hmac, bytes, signed))) return;
  }
  throw new WebhookVerificationError('no signature matches');
}

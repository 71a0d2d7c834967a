// verifyWebhook against the Standard Webhooks specification's own test vector, and against signatures made
// here with node:crypto (an implementation independent of the one under test).
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WebhookVerificationError, verifyWebhook } from '../src/index.js';

// The vector of the specification's libraries (go/webhook_test.go TestWebhookSign).
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

function sign(secret: string, id: string, ts: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return 'v1,' + createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
}

describe('verifyWebhook', () => {
  const at = new Date(SPEC.timestamp * 1000 + 10_000);
  const headers = { 'webhook-id': SPEC.id, 'webhook-timestamp': String(SPEC.timestamp), 'webhook-signature': SPEC.signature };

  it("accepts the specification's vector, as a string, bytes, Headers or Node's header object", async () => {
    await verifyWebhook(SPEC.secret, headers, SPEC.body, { now: at });
    await verifyWebhook(SPEC.secret, new Headers(headers), new TextEncoder().encode(SPEC.body), { now: at });
    await verifyWebhook(SPEC.secret, { ...headers, 'Webhook-Id': undefined, 'webhook-signature': [SPEC.signature] }, SPEC.body, { now: at });
    expect(sign(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body)).toBe(SPEC.signature);
  });

  it('accepts a fresh delivery with one matching signature among several', async () => {
    const secret = 'whsec_' + Buffer.from('a webhook secret of 32 bytes....').toString('base64');
    const ts = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ job_id: 'job_1', status: 'completed', terminal: true });
    await verifyWebhook(secret, {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(ts),
      'webhook-signature': `v1,bm90IGl0 v2,other ${sign(secret, 'msg_1', ts, body)}`,
    }, body);
  });

  it('rejects a changed body, id or secret, a stale timestamp, and missing headers', async () => {
    const cases: Array<[string, Record<string, string>, string, Date]> = [
      [SPEC.secret, headers, '{"test": 1}', at],
      [SPEC.secret, { ...headers, 'webhook-id': 'msg_other' }, SPEC.body, at],
      ['whsec_' + Buffer.from('another secret').toString('base64'), headers, SPEC.body, at],
      [SPEC.secret, headers, SPEC.body, new Date(SPEC.timestamp * 1000 + 301_000)],
      [SPEC.secret, headers, SPEC.body, new Date(SPEC.timestamp * 1000 - 301_000)],
      [SPEC.secret, { ...headers, 'webhook-timestamp': 'soon' }, SPEC.body, at],
      [SPEC.secret, { 'webhook-id': SPEC.id, 'webhook-timestamp': String(SPEC.timestamp) }, SPEC.body, at],
    ];
    for (const [secret, h, body, now] of cases) {
      await expect(verifyWebhook(secret, h, body, { now })).rejects.toBeInstanceOf(WebhookVerificationError);
    }
    await expect(verifyWebhook('whsec_!!', headers, SPEC.body, { now: at })).rejects.toThrow(/secret/);
  });
});

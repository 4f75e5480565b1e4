import crypto from 'node:crypto';

/**
 * One signature scheme for both directions of webhooks (the one Stripe and Slack use):
 * `v1=` hex HMAC-SHA256 over `timestamp + "." + raw body`, with the timestamp in its own header.
 */
export const TIMESTAMP_HEADER = 'x-chaperone-timestamp';
export const SIGNATURE_HEADER = 'x-chaperone-signature';
export const WEBHOOK_TOLERANCE_S = 300;

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export type WebhookCheck = { ok: true; timestamp: number; signature: string } | { ok: false; why: string };

export function checkWebhookSignature(secret: string, body: string, tsHeader: unknown, sigHeader: unknown, nowMs: number): WebhookCheck {
  if (typeof tsHeader !== 'string' || !/^\d{1,12}$/.test(tsHeader)) return { ok: false, why: 'missing or malformed timestamp' };
  if (typeof sigHeader !== 'string' || sigHeader.length > 200) return { ok: false, why: 'missing or malformed signature' };
  const ts = Number(tsHeader);
  if (Math.abs(nowMs / 1000 - ts) > WEBHOOK_TOLERANCE_S) return { ok: false, why: 'stale timestamp' };
  const expected = Buffer.from(signWebhook(secret, ts, body));
  const given = Buffer.from(sigHeader.trim());
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return { ok: false, why: 'bad signature' };
  return { ok: true, timestamp: ts, signature: sigHeader.trim() };
}

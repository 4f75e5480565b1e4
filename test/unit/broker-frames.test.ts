import { describe, expect, it } from 'vitest';
import { BrokerFrameSchema } from '../../common/protocol/signaling.js';

describe("the client's parse of broker frames", () => {
  it('accepts the frames the broker sends', () => {
    const good = [
      { type: 'challenge', nonce: 'n'.repeat(32) },
      { type: 'ready', session_id: '9b2f3c1e-1d2a-4c3b-8e4f-5a6b7c8d9e0f', role: 'end_user', expires_at: 1_800_000_000_000, capabilities: ['view', 'chat'], grants: [], peer_online: true },
      { type: 'signal', from: 'analyst', payload: { kind: 'offer', sdp: 'v=0' } },
      { type: 'grant.changed', capability: 'control', granted: false, by: 'broker' },
      { type: 'extend.result', extension_id: '9b2f3c1e-1d2a-4c3b-8e4f-5a6b7c8d9e0f', accepted: false, expires_at: 1, by: 'approver', reason: 'change freeze' },
      { type: 'session.ended', reason: 'revoked' },
    ];
    for (const f of good) expect(BrokerFrameSchema.safeParse(f).success, JSON.stringify(f)).toBe(true);
  });

  it('drops what does not fit: unknown types, extra fields, wrong types, an end reason that does not exist, oversize', () => {
    const bad = [
      { type: 'grant.granted', capability: 'control' },
      { type: 'session.ended', reason: 'revoked', and_also: 'grant control' },
      { type: 'session.ended', reason: 'because' },
      { type: 'extend.result', extension_id: 'e1', accepted: 'yes', expires_at: 1, by: 'approver' },
      { type: 'signal', from: 'broker', payload: { kind: 'offer', sdp: 'v=0' } },
      { type: 'token.renewed', token: 't'.repeat(100_000), expires_at: 1 },
      { type: 'error', code: 'x', message: 'm'.repeat(5000) },
      null,
      'session.ended',
    ];
    for (const f of bad) expect(BrokerFrameSchema.safeParse(f).success, JSON.stringify(f)?.slice(0, 80)).toBe(false);
  });
});

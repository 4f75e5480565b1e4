import crypto from 'node:crypto';
import { expect } from 'vitest';
import { ApiClient } from './api.js';
import type { TestBroker, TestUser } from './broker.js';
import { DeviceKey } from './device.js';
import { SignalingClient } from './signaling-client.js';

export interface ActiveSession {
  id: string;
  endUser: ApiClient;
  endUserToken: string;
  analystToken: string;
  offer: string;
  code: string;
  endUserIce: { urls: string[]; username?: string; credential?: string }[];
  analystIce: { urls: string[]; username?: string; credential?: string }[];
}

export async function requestSession(analyst: TestUser, caps: string[] = ['view', 'chat'], ticket = `INC-${crypto.randomInt(1e6)}`, duration = 30) {
  const res = await analyst.api.post('/api/v1/sessions', { ticket, reason: 'printer driver will not install', capabilities: caps, duration_minutes: duration });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { id: string; state: string; ticket: string };
}

export async function redeem(b: TestBroker, code: string, device = new DeviceKey()) {
  const api = new ApiClient(b.url, device);
  const res = await api.post('/api/v1/join', { code });
  return { api, res };
}

/** The end user's signed answer, as the app makes it: accepting covers what the offer says consent covers. */
export async function consentReceipt(device: DeviceKey, sessionId: string, offer: string, decision: 'accept' | 'decline' = 'accept'): Promise<string> {
  const offerHash = crypto.createHash('sha256').update(offer).digest('base64url');
  const claims = JSON.parse(Buffer.from(offer.split('.')[1]!, 'base64url').toString('utf8')) as { consent_covers: string[]; recording: string };
  // Accepting repeats the offer's recording fact: the end user agreed to exactly that.
  return device.sign('chaperone-consent+jwt', { sid: sessionId, offer_hash: offerHash, decision, accepted_capabilities: decision === 'accept' ? claims.consent_covers : [], ...(decision === 'accept' ? { recording: claims.recording } : {}) });
}

/** The end user's signed teardown report, as the app makes it: the grants it dropped, sorted, once each. */
export function teardownReceipt(device: DeviceKey, sessionId: string, revoked: readonly string[], afterCrash = false): Promise<string> {
  return device.teardownReceipt(sessionId, revoked, afterCrash);
}

export async function consent(api: ApiClient, sessionId: string, offer: string, decision: 'accept' | 'decline' = 'accept') {
  const receipt = await consentReceipt(api.device, sessionId, offer, decision);
  return api.post('/api/v1/join/consent', { session_id: sessionId, receipt });
}

/** Drives one session from request to active: approval (if needed), code, redeem, consent, both tokens. */
export async function activeSession(b: TestBroker, analyst: TestUser, opts: { caps?: string[]; approver?: TestUser; duration?: number; ticket?: string } = {}): Promise<ActiveSession> {
  const s = await requestSession(analyst, opts.caps, opts.ticket, opts.duration);
  if (s.state === 'awaiting_approval') {
    if (!opts.approver) throw new Error('this session needs an approver');
    const a = await opts.approver.api.post(`/api/v1/sessions/${s.id}/approve`, {});
    expect(a.status, JSON.stringify(a.body)).toBe(200);
  }
  const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
  expect(c.status, JSON.stringify(c.body)).toBe(200);
  const { api, res } = await redeem(b, c.body.code_display);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const accepted = await consent(api, s.id, res.body.offer);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
  const t = await analyst.api.post(`/api/v1/sessions/${s.id}/token`, {});
  expect(t.status, JSON.stringify(t.body)).toBe(200);
  return { id: s.id, endUser: api, endUserToken: accepted.body.token, analystToken: t.body.token, offer: res.body.offer, code: c.body.code, endUserIce: accepted.body.ice_servers, analystIce: t.body.ice_servers };
}

export async function connectBoth(b: TestBroker, analyst: TestUser, s: ActiveSession) {
  const eu = await SignalingClient.connect(b.url, s.endUserToken, s.endUser.device);
  const an = await SignalingClient.connect(b.url, s.analystToken, analyst.api.device);
  return { eu, an };
}

import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { BenchApi, must, rawRequest } from './api.js';
import { DeviceKey } from '../../kit/device.js';
import { closedAt, connectSignaling } from './signaling.js';

export interface BenchAccount {
  username: string;
  roles: string[];
  access_token: string;
  private_jwk: import('node:crypto').JsonWebKey;
}

export function accountApi(baseUrl: string, a: BenchAccount): BenchApi {
  return new BenchApi(baseUrl, DeviceKey.fromPrivateJwk(a.private_jwk), a.access_token);
}

export const STEPS = ['request', 'code', 'redeem', 'consent', 'analyst_token', 'signaling_connect', 'end'] as const;
export type Step = (typeof STEPS)[number];
export type StepTimes = Record<Step, number[]>;

export function newStepTimes(): StepTimes {
  return Object.fromEntries(STEPS.map((s) => [s, []])) as unknown as StepTimes;
}

/** One call with the proof made first, so the recorded time is the request alone. */
async function call<T = any>(api: BenchApi, path: string, body: unknown, step: Step, times?: StepTimes): Promise<T> {
  const headers = await api.prepare('POST', path);
  const t = performance.now();
  const r = await rawRequest<T>('POST', `${api.baseUrl}${path}`, headers, JSON.stringify(body));
  times?.[step].push(performance.now() - t);
  return must(r, `${step} ${path}`);
}

export interface Active {
  id: string;
  endUser: DeviceKey;
  endUserToken: string;
  analystToken: string;
}

/** Request (auto-approved by policy) → join code → redeem → signed consent → analyst token. */
export async function driveToActive(analyst: BenchApi, times?: StepTimes): Promise<Active> {
  const s = await call<{ id: string; state: string }>(
    analyst,
    '/api/v1/sessions',
    { ticket: `INC-${crypto.randomInt(1e9)}`, reason: 'printer driver will not install', capabilities: ['view', 'chat'], duration_minutes: 30 },
    'request',
    times,
  );
  if (s.state !== 'approved') throw new Error(`expected an auto-approved session, got ${s.state}`);
  const c = await call<{ code_display: string }>(analyst, `/api/v1/sessions/${s.id}/code`, {}, 'code', times);
  const eu = new BenchApi(analyst.baseUrl, new DeviceKey());
  const red = await call<{ offer: string }>(eu, '/api/v1/join', { code: c.code_display }, 'redeem', times);
  const offerHash = crypto.createHash('sha256').update(red.offer).digest('base64url');
  const receipt = await eu.device.sign('chaperone-consent+jwt', { sid: s.id, offer_hash: offerHash, decision: 'accept', accepted_capabilities: ['view', 'chat'], recording: (JSON.parse(Buffer.from(red.offer.split('.')[1]!, 'base64url').toString('utf8')) as { recording: string }).recording });
  const con = await call<{ accepted: boolean; token: string }>(eu, '/api/v1/join/consent', { session_id: s.id, receipt }, 'consent', times);
  if (!con.accepted) throw new Error('consent not accepted');
  const t = await call<{ token: string }>(analyst, `/api/v1/sessions/${s.id}/token`, {}, 'analyst_token', times);
  return { id: s.id, endUser: eu.device, endUserToken: con.token, analystToken: t.token };
}

/** Both parties connect to signaling (in parallel); resolves with [analyst, end user] sockets. */
export async function connectBoth(baseUrl: string, analyst: BenchApi, a: Active, times?: StepTimes): Promise<[WebSocket, WebSocket]> {
  const t = performance.now();
  const both = await Promise.all([connectSignaling(baseUrl, a.analystToken, analyst.device), connectSignaling(baseUrl, a.endUserToken, a.endUser)]);
  times?.signaling_connect.push(performance.now() - t);
  return both;
}

/** The complete lifecycle, ended by the analyst over signaling; resolves when both sockets closed. */
export async function fullLifecycle(analyst: BenchApi, times?: StepTimes): Promise<void> {
  const a = await driveToActive(analyst, times);
  const [an, eu] = await connectBoth(analyst.baseUrl, analyst, a, times);
  const t = performance.now();
  const closed = Promise.all([closedAt(an, () => performance.now()), closedAt(eu, () => performance.now())]);
  // As the app does: on session.ended the end user's client tears down and reports it, signed;
  // the broker keeps that socket open for the report (up to 2 s) instead of closing it at once.
  eu.on('message', (data: WebSocket.RawData) => {
    const f = JSON.parse(String(data)) as { type?: string };
    if (f.type !== 'session.ended') return;
    void a.endUser.teardownReceipt(a.id, ['capture']).then((receipt) => eu.send(JSON.stringify({ type: 'teardown.report', revoked: ['capture'], receipt })));
  });
  an.send('{"type":"end"}');
  const [x, y] = await closed;
  if (x.code !== 4000 || y.code !== 4000) throw new Error(`sockets closed with ${x.code}/${y.code}, expected 4000`);
  times?.end.push(performance.now() - t);
}

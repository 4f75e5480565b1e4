import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES, isAuditEventType } from '../../common/audit-events.js';
import { ErrorResponseSchema } from '../../common/protocol/responses.js';
import { signWebhook } from '../../broker/hooks/signature.js';
import type { AnyRoute } from '../../broker/http/registry.js';
import { uploadChunk } from '../../kit/recording.js';
import { ChunkAckSchema } from '../../common/recording.js';
import { readTar } from '../../broker/audit/tar.js';
import { ApiClient, type ApiResult } from '../../kit/api.js';
import { ENGINES, createUser, freshTotp, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession, consent, consentReceipt, requestSession } from '../../kit/lifecycle.js';
import { WatchClient } from '../../kit/watch-client.js';
import { SignalingClient } from '../../kit/signaling-client.js';
import { PasskeyPage, launchHeadlessChromium, missingChromium } from '../../kit/virtual-authenticator.js';
import type { Browser } from 'playwright-core';
import { signInAtIdp, startTestIdp, type TestIdp } from '../helpers/oidc-idp.js';
import { solidPng } from '../helpers/png.js';
import os from 'node:os';

/**
 * The contract in common/ holds for a real broker: every route's answers parse through the
 * schema it declares (common/protocol/responses.ts) with nothing left over, errors keep the one
 * error shape, and every audit event the broker writes is in common/audit-events.ts with the
 * outcome listed there. A whole lifecycle, refusals included, runs through every route.
 */

const root = path.resolve(import.meta.dirname, '../..');

function routeFor(routes: readonly AnyRoute[], method: string, url: string): AnyRoute | undefined {
  const p = url.split('?')[0]!;
  return routes.find((r) => r.method === method && new RegExp(`^${r.url.replace(/:[A-Za-z_]+/g, '[^/]+')}$`).test(p));
}

function firstEventData(text: string): unknown {
  const data = text.split('\n').find((l) => l.startsWith('data:'));
  return data ? JSON.parse(data.slice(5)) : null;
}

describe.each(ENGINES)('the wire contract on %s', (engine) => {
  let b: TestBroker;
  const answered = new Set<string>();
  const problems: string[] = [];
  const original = ApiClient.prototype.call;
  // Passkey answers come from Chromium's virtual authenticator on a localhost page the broker lists.
  const noChromium = missingChromium();
  let browser: Browser | null = null;
  let passkeyPage: PasskeyPage | null = null;
  // Single sign-on's routes answer through a real OpenID provider in this process.
  let idp: TestIdp;

  beforeAll(async () => {
    if (noChromium.length === 0) {
      browser = await launchHeadlessChromium();
      passkeyPage = await PasskeyPage.open(browser);
    } else console.warn(`[wire contract] passkey routes not answered: missing ${noChromium.join(', ')}`);
    idp = await startTestIdp([{ sub: 'dana', password: 'dana-pw-1', name: 'Dana Reyes', email: 'dana@acme.example', groups: ['helpdesk'], amr: ['pwd', 'mfa'] }]);
    const oidc = { issuer: idp.issuer, client_id: idp.clientId, client_secret: idp.clientSecret, groups_claim: 'groups', claims_to_roles: [{ claim: 'groups', value: 'helpdesk', roles: ['analyst'] }], organisation: 'Acme IT' };
    // A branding logo, so its route has an image to answer with.
    const logo = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wire-logo-')), 'logo.png');
    fs.writeFileSync(logo, solidPng(8, 8, [0, 0, 0]));
    b = await startTestBroker(engine, { file: { oidc, branding: { name: 'Acme IT Helpdesk', logo, help_line: 'Call 555-0100.' }, ...(passkeyPage ? { webauthn: { rp_id: 'localhost', origins: [passkeyPage.origin] } } : {}) } } as never);
    // Every answer any client in this file receives is checked against the route's schema.
    ApiClient.prototype.call = async function (this: ApiClient, ...args: Parameters<ApiClient['call']>): Promise<ApiResult> {
      const res = await original.apply(this, args);
      const [method, url] = args;
      const route = routeFor(b.routes, method, url);
      if (!route) return res;
      const where = `${method} ${route.url} (${res.status})`;
      // A redirect the route declares (the identity provider's callback) is its success; its body is empty.
      const redirect = res.status >= 300 && res.status < 400 && String(res.status) in route.responses;
      if (redirect && res.body === null) res.body = '';
      const schema = res.status < 300 || redirect ? route.response : ErrorResponseSchema;
      // An event stream's answer is its events: each one's data is what the route declares.
      if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) res.body = firstEventData(String(res.body));
      const parsed = schema.safeParse(res.body);
      if (!parsed.success) problems.push(`${where}: ${parsed.error.message}`);
      // Zod drops keys a schema does not name: anything dropped is a field the contract lacks.
      else if (!isDeepStrictEqual(parsed.data, res.body)) problems.push(`${where}: fields outside the schema in ${JSON.stringify(res.body).slice(0, 300)}`);
      if (res.status < 300 || redirect) answered.add(`${route.method} ${route.url}`);
      return res;
    };
  });
  afterAll(async () => {
    ApiClient.prototype.call = original;
    await passkeyPage?.close();
    await browser?.close();
    await b?.destroy();
    await idp?.close();
  });

  // Many sign-ins (scrypt) and a whole session: under a shared machine's load it outgrows the 30 s default.
  it('a whole lifecycle through every route answers in the declared shapes', async () => {
    const anon = new ApiClient(b.url);
    // The join link's page is for people and never looks the code up: any well-formed code gets it.
    for (const p of ['/healthz', '/readyz', '/metrics', '/.well-known/jwks.json', '/openapi.json', '/join/ZZZZZ-ZZZZZ', '/api/v1/branding']) expect((await anon.get(p)).status, p).toBe(200);

    // The logo is an image, not JSON: fetched by hand.
    const logoRes = await fetch(`${b.url}/api/v1/branding/logo`);
    expect([logoRes.status, logoRes.headers.get('content-type')]).toEqual([200, 'image/png']);
    answered.add('GET /api/v1/branding/logo');

    // Accounts: createUser changes the one-time password and signs in through the API.
    const admin = await createUser(b, 'root', ['admin']);
    const alice = await createUser(b, 'alice', ['analyst']);
    const bob = await createUser(b, 'bob', ['approver']);
    const audrey = await createUser(b, 'audrey', ['auditor']);
    expect((await alice.api.get('/api/v1/me')).status).toBe(200);
    // Refresh, reuse and sign-out on an account of their own: a reused refresh token revokes its
    // whole sign-in, the access tokens of it included.
    const rita = await createUser(b, 'rita', ['auditor']);
    const refreshed = await rita.api.post('/api/v1/auth/refresh', { refresh_token: rita.api.refreshToken });
    expect(refreshed.status).toBe(200);
    rita.api.accessToken = refreshed.body.access_token;
    expect((await rita.api.get('/api/v1/me')).status).toBe(200);
    expect((await rita.api.post('/api/v1/auth/refresh', { refresh_token: rita.api.refreshToken })).status).toBe(401);
    expect((await rita.api.get('/api/v1/me')).status).toBe(401);
    expect((await rita.api.post('/api/v1/auth/logout', { refresh_token: refreshed.body.refresh_token })).status).toBe(200);
    expect((await alice.api.post('/api/v1/auth/login', { username: 'alice', password: 'wrong password', totp: '000000' })).status).toBe(401);
    expect((await admin.api.get('/api/v1/admin/users')).status).toBe(200);
    // A first sign-in in the app: the one-time password, then the account's own password and first code.
    const nora = await b.ctx.accounts.create({ username: 'nora', display_name: 'Nora', organisation: 'Acme IT', kind: 'internal', roles: ['analyst'] }, 'test');
    const noraApi = new ApiClient(b.url, new DeviceKey());
    const begun = await noraApi.post('/api/v1/auth/first-sign-in', { username: 'nora', password: nora.one_time_password });
    expect(begun.status).toBe(200);
    const finished = await noraApi.post('/api/v1/auth/first-sign-in/finish', { setup_token: begun.body.setup_token, new_password: 'nora chose a long one', totp: freshTotp(nora.totp_secret!) });
    expect(finished.status).toBe(200);
    // Step-up: a fresh code from the signed-in account (the next TOTP step: the broker accepts one ahead).
    noraApi.accessToken = finished.body.access_token;
    expect((await noraApi.post('/api/v1/auth/step-up', { totp: freshTotp(nora.totp_secret!) })).status).toBe(200);
    if (passkeyPage) {
      const o = await noraApi.post('/api/v1/me/passkeys/options', {});
      const added = await noraApi.post('/api/v1/me/passkeys', { challenge_id: o.body.challenge_id, name: 'Work laptop', credential: await passkeyPage.create(o.body.options) });
      expect(added.status).toBe(200);
      expect((await noraApi.get('/api/v1/me/passkeys')).body.passkeys).toHaveLength(1);
      const a = await noraApi.post('/api/v1/auth/step-up/passkey/options', {});
      expect((await noraApi.post('/api/v1/auth/step-up/passkey', { challenge_id: a.body.challenge_id, credential: await passkeyPage.get(a.body.options) })).status).toBe(200);
      // Signing in with it in place of a code, from another device.
      const other = new ApiClient(b.url, new DeviceKey());
      const so = await other.post('/api/v1/auth/login/passkey-options', { username: 'nora', password: 'nora chose a long one' });
      expect((await other.post('/api/v1/auth/login', { username: 'nora', password: 'nora chose a long one', passkey: { challenge_id: so.body.challenge_id, credential: await passkeyPage.get(so.body.options) } })).status).toBe(200);
      expect((await noraApi.post(`/api/v1/me/passkeys/${added.body.id}/remove`, {})).status).toBe(200);
    }
    const carol = await admin.api.post('/api/v1/admin/users', { username: 'carol', display_name: 'Carol', organisation: 'Acme IT', roles: ['analyst'] });
    expect(carol.status).toBe(200);
    // A one-time password alone is sent to the first-sign-in screens (nothing is signed in).
    expect((await anon.post('/api/v1/auth/login', { username: 'carol', password: carol.body.one_time_password })).status).toBe(403);
    expect((await admin.api.post('/api/v1/admin/users/carol/roles', { roles: ['analyst', 'auditor'] })).status).toBe(200);
    expect((await admin.api.post('/api/v1/admin/users/carol/reset-password', {})).status).toBe(200);
    expect((await admin.api.post('/api/v1/admin/users/carol/disable', {})).status).toBe(200);
    expect((await alice.api.get('/api/v1/admin/users')).status).toBe(403);
    expect((await anon.call('GET', '/api/v1/me', undefined, { proof: false })).status).toBe(401);

    // A session that needs an approver (control), live on signaling, with a grant and more time.
    const s = await requestSession(alice, ['view', 'control']);
    expect(s.state).toBe('awaiting_approval');
    expect((await alice.api.post(`/api/v1/sessions/${s.id}/approve`, {})).status).toBe(403);
    expect((await bob.api.post(`/api/v1/sessions/${s.id}/approve`, {})).status).toBe(200);
    expect((await bob.api.post(`/api/v1/sessions/${s.id}/approve`, {})).status).toBe(409);
    expect((await alice.api.get('/api/v1/sessions')).status).toBe(200);
    expect((await alice.api.get(`/api/v1/sessions/${s.id}`)).status).toBe(200);
    const code = await alice.api.post(`/api/v1/sessions/${s.id}/code`, {});
    expect(code.status).toBe(200);
    const endUser = new ApiClient(b.url, new DeviceKey());
    expect((await endUser.post('/api/v1/join', { code: 'ZZZZZ-ZZZZZ' })).status).toBe(404);
    const offer = await endUser.post('/api/v1/join', { code: code.body.code_display });
    expect(offer.status).toBe(200);
    const forged = await new DeviceKey().sign('chaperone-consent+jwt', { sid: s.id, decision: 'accept' });
    expect((await endUser.post('/api/v1/join/consent', { session_id: s.id, receipt: forged })).status).toBe(400);
    expect((await consent(new ApiClient(b.url, new DeviceKey()), s.id, offer.body.offer)).status).toBe(403);
    const accepted = await consent(endUser, s.id, offer.body.offer);
    expect(accepted.status).toBe(200);
    const token = await alice.api.post(`/api/v1/sessions/${s.id}/token`, {});
    expect(token.status).toBe(200);
    const eu = await SignalingClient.connect(b.url, accepted.body.token, endUser.device);
    const an = await SignalingClient.connect(b.url, token.body.token, alice.api.device);
    an.sendJson({ type: 'grant.response', request_id: 'nope', capability: 'control', allow: true });
    await an.nextOfType('error');
    an.sendJson({ type: 'grant.request', request_id: 'g1', capability: 'control' });
    await eu.nextOfType('grant.request');
    eu.sendJson({ type: 'grant.response', request_id: 'g1', capability: 'control', allow: true });
    await an.nextOfType('grant.changed');
    eu.sendJson({ type: 'grant.revoke', capability: 'control' });
    await an.nextOfType('grant.changed');
    an.sendJson({ type: 'grant.request', request_id: 'g2', capability: 'clipboard' });
    await an.nextOfType('error');
    an.sendJson({ type: 'extend.request', request_id: 'x0', minutes: 240 });
    await an.nextOfType('error');
    an.sendJson({ type: 'extend.request', request_id: 'x1', minutes: 5 });
    const first = await an.nextOfType('extend.pending_approval');
    const pending = await bob.api.get('/api/v1/extensions/pending');
    expect(pending.body.extensions.map((x: { id: string }) => x.id)).toContain(first.extension_id);
    expect((await bob.api.post(`/api/v1/sessions/${s.id}/extensions/${first.extension_id}/approve`, {})).status).toBe(200);
    const asked = await eu.nextOfType('extend.offer');
    const receipt = await endUser.device.sign('chaperone-extension+jwt', { sid: s.id, extension_id: asked.extension_id, decision: 'accept' });
    eu.sendJson({ type: 'extend.response', extension_id: asked.extension_id, accept: true, receipt });
    await an.nextOfType('extend.result');
    an.sendJson({ type: 'extend.request', request_id: 'x2', minutes: 5 });
    const second = await an.nextOfType('extend.pending_approval');
    expect((await bob.api.post(`/api/v1/sessions/${s.id}/extensions/${second.extension_id}/reject`, { reason: 'change freeze' })).status).toBe(200);
    await an.nextOfType('extend.result');
    an.sendJson({ type: 'extend.request', request_id: 'x3', minutes: 5 });
    const third = await an.nextOfType('extend.pending_approval');
    expect((await bob.api.post(`/api/v1/sessions/${s.id}/extensions/${third.extension_id}/approve`, {})).status).toBe(200);
    eu.sendJson({ type: 'extend.response', extension_id: (await eu.nextOfType('extend.offer')).extension_id, accept: false });
    await an.nextOfType('extend.result');
    eu.sendJson({ type: 'teardown.report', revoked: ['control'], receipt: await endUser.device.teardownReceipt(s.id, ['control']) });
    expect((await endUser.post('/api/v1/join/teardown-report', { session_id: s.id, revoked: ['capture'], after_crash: true, receipt: await endUser.device.teardownReceipt(s.id, ['capture'], true) })).status).toBe(200);
    // One chunk of the end user's recording (the session is recorded best_effort in tests): a
    // WebM from Chromium's MediaRecorder, so the end leaves a playable file for the player's routes.
    // Bytes, not JSON, so not through ApiClient: checked against the route's schema here.
    const ack = await uploadChunk(b.url, endUser.device, accepted.body.token, s.id, 0, fs.readFileSync(path.join(import.meta.dirname, '../fixtures/mediarecorder-2s.webm')));
    expect(ack.status).toBe(200);
    expect(ChunkAckSchema.strict().parse(ack.body)).toEqual(ack.body);
    answered.add('POST /api/v1/sessions/:id/recording/chunks/:seq');
    const batch = { seq: 0, entries: [{ t: Date.now(), kind: 'click', x: 0.25, y: 0.75, button: 'left' }] };
    expect((await endUser.call('POST', `/api/v1/sessions/${s.id}/recording/transcript`, batch, { token: accepted.body.token })).status).toBe(200);
    const stranger = new ApiClient(b.url);
    expect((await stranger.post('/api/v1/join/teardown-report', { session_id: s.id, revoked: [], after_crash: true, receipt: await stranger.device.teardownReceipt(s.id, [], true) })).status).toBe(403);
    expect((await alice.api.post(`/api/v1/sessions/${s.id}/end`, {})).status).toBe(200);
    await eu.closed();
    // The evidence bundle is a tar, not JSON: fetched by hand and checked to be one.
    const evUrl = `${b.url}/api/v1/sessions/${s.id}/evidence`;
    const ev = await fetch(evUrl, { headers: { authorization: `DPoP ${audrey.api.accessToken}`, dpop: await audrey.api.device.httpProof('GET', evUrl, audrey.api.accessToken!) } });
    expect([ev.status, ev.headers.get('content-type')]).toEqual([200, 'application/x-tar']);
    expect(readTar(Buffer.from(await ev.arrayBuffer())).map((f) => f.name)).toContain('evidence.json');
    answered.add('GET /api/v1/sessions/:id/evidence');
    // The Recordings screen: the list, a playback ticket, the file by range with it, the markers.
    await expect.poll(async () => (await audrey.api.get(`/api/v1/recordings?ticket=${encodeURIComponent(s.ticket)}`)).body.recordings?.[0]?.state, { timeout: 10_000 }).toBe('finalised');
    const play = await audrey.api.post(`/api/v1/sessions/${s.id}/recording/playback`, {});
    expect(play.status).toBe(200);
    const video = await fetch(`${b.url}${play.body.url}`, { headers: { range: 'bytes=0-3' } });
    expect([video.status, video.headers.get('content-type'), Buffer.from(await video.arrayBuffer()).toString('hex')]).toEqual([206, 'video/webm', '1a45dfa3']);
    answered.add('GET /api/v1/sessions/:id/recording');
    expect((await audrey.api.get(`/api/v1/sessions/${s.id}/recording/markers`)).body.markers).toEqual([expect.objectContaining({ kind: 'click', label: 'Click at 25%, 75%' })]);
    // Session history: the auditor reads this session with its recording; the analyst her own.
    expect((await audrey.api.get(`/api/v1/sessions/history?q=${encodeURIComponent(s.ticket)}`)).body.sessions).toEqual([expect.objectContaining({ session_id: s.id, recording: 'finalised' })]);
    expect((await alice.api.get('/api/v1/sessions/history?limit=1')).body.sessions).toHaveLength(1);

    // Declined, rejected, killed, and a ticket closed by the ticketing system.
    const declined = await requestSession(alice, ['view']);
    const c2 = await alice.api.post(`/api/v1/sessions/${declined.id}/code`, {});
    const eu2 = new ApiClient(b.url, new DeviceKey());
    const o2 = await eu2.post('/api/v1/join', { code: c2.body.code });
    const no = await eu2.post('/api/v1/join/consent', { session_id: declined.id, receipt: await consentReceipt(eu2.device, declined.id, o2.body.offer, 'decline') });
    expect(no.body).toEqual({ accepted: false });
    // The analyst's event stream of a session that has ended: the state, then the stream closes.
    expect((await alice.api.get(`/api/v1/sessions/${declined.id}/events`)).status).toBe(200);
    // A code left to run out (the row as the code's deadline leaves it; the clock is real here), then reissued.
    const lapsed = await requestSession(alice, ['view']);
    expect((await alice.api.post(`/api/v1/sessions/${lapsed.id}/code`, {})).status).toBe(200);
    await b.ctx.storage.db.updateTable('sessions').set({ state: 'ended', end_reason: 'code_expired', code_hash: null, ended_at: Date.now() }).where('id', '=', lapsed.id).execute();
    expect((await alice.api.post(`/api/v1/sessions/${lapsed.id}/reissue`, {})).status).toBe(200);
    const rejected = await requestSession(alice, ['view', 'control']);
    expect((await bob.api.post(`/api/v1/sessions/${rejected.id}/reject`, { reason: 'no change window' })).status).toBe(200);
    const killed = await requestSession(alice, ['view']);
    expect((await admin.api.post(`/api/v1/sessions/${killed.id}/kill`, {})).status).toBe(200);
    // Accepted, then the screen could not be shared: the end user's app stops it over HTTP.
    const unshared = await activeSession(b, alice);
    expect((await unshared.endUser.call('POST', `/api/v1/sessions/${unshared.id}/stop`, { reason: 'capture_refused' }, { token: unshared.endUserToken })).status).toBe(200);
    // Monitored: the Live list, a watcher's ticket and socket, suspend, resume, a note, the end by the watcher.
    const sue = await createUser(b, 'sue', ['supervisor']);
    const watched = await activeSession(b, alice, { caps: ['view', 'control'], approver: bob });
    expect((await sue.api.get('/api/v1/live')).body.sessions.map((x: { session_id: string }) => x.session_id)).toContain(watched.id);
    const watcher = await WatchClient.watch(b.url, sue.api, watched.id);
    expect((await sue.api.post(`/api/v1/sessions/${watched.id}/moderation/suspend`, { reason: 'a look first' })).status).toBe(200);
    expect((await sue.api.post(`/api/v1/sessions/${watched.id}/moderation/resume`, {})).status).toBe(200);
    expect((await sue.api.post(`/api/v1/sessions/${watched.id}/moderation/note`, { text: 'slow down please' })).status).toBe(200);
    expect((await sue.api.post(`/api/v1/sessions/${watched.id}/moderation/end`, {})).status).toBe(200);
    expect(await watcher.closed()).toBe(4000);
    const onTicket = await requestSession(alice, ['view'], 'INC-CLOSE');
    const opened = JSON.stringify({ event_id: crypto.randomUUID(), ticket: 'INC-OPEN', status: 'open' });
    const t0 = Math.floor(Date.now() / 1000);
    expect((await anon.call('POST', '/api/v1/webhooks/tickets', undefined, { proof: false, rawBody: opened, headers: { 'x-chaperone-timestamp': String(t0), 'x-chaperone-signature': signWebhook(b.ctx.cfg.ticketWebhookSecret, t0, opened) } })).status).toBe(200);
    const raw = JSON.stringify({ event_id: crypto.randomUUID(), ticket: 'INC-CLOSE', status: 'closed' });
    const ts = Math.floor(Date.now() / 1000);
    const hook = await anon.call('POST', '/api/v1/webhooks/tickets', undefined, { proof: false, rawBody: raw, headers: { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': signWebhook(b.ctx.cfg.ticketWebhookSecret, ts, raw) } });
    expect(hook.body.ended_sessions).toEqual([onTicket.id]);
    expect((await anon.call('POST', '/api/v1/webhooks/tickets', undefined, { proof: false, rawBody: raw, headers: { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': 'v1=00' } })).status).toBe(401);

    expect((await admin.api.post('/api/v1/admin/keys/rotate', {})).status).toBe(200);
    // A delivery that failed after its schedule (to a hook since removed from broker.json), retried by hand.
    const failedDelivery = { id: crypto.randomUUID(), event_type: 'session.ended', url: 'https://hooks.example.com/chaperone', payload: '{}', status: 'failed', attempts: 6, next_attempt_at: Date.now(), last_error: 'HTTP 503', created_at: Date.now(), delivered_at: null };
    await b.ctx.storage.db.insertInto('hook_deliveries').values(failedDelivery).execute();
    expect((await admin.api.post(`/api/v1/admin/hook-deliveries/${failedDelivery.id}/retry`, {})).status).toBe(200);
    expect((await admin.api.get('/api/v1/admin/hook-deliveries')).status).toBe(200);
    expect((await audrey.api.get('/api/v1/audit/events?limit=1000')).status).toBe(200);
    expect((await admin.api.post('/api/v1/admin/users/alice/organisation', { organisation: 'Acme Field IT' })).status).toBe(200);
    const shown = await admin.api.get('/api/v1/admin/policy');
    expect(shown.status).toBe(200);
    // Saved as shown: nothing changes, nothing to audit.
    expect((await admin.api.post('/api/v1/admin/policy', { policy: shown.body.policy, version: shown.body.version })).body.changed).toEqual([]);
    const verified = await audrey.api.post('/api/v1/audit/verify', {});
    expect(verified.status).toBe(200);
    expect(verified.body.ok).toBe(true);
    await fetch(`${b.url}/api/v1/no-such-route`);
    await fetch(`${b.url}/api/v1/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":' });

    // Single sign-on: start with a device key, the provider's pages, its redirect to the broker's
    // callback, the finish from the same device; then a step-up by signing in there again.
    expect((await anon.get('/api/v1/auth/oidc')).body).toEqual({ enabled: true, issuer: idp.issuer });
    const sso = new ApiClient(b.url, new DeviceKey());
    const throughProvider = async (authorizationUrl: string) => {
      const cb = await signInAtIdp(authorizationUrl, 'dana', 'dana-pw-1', (u) => u.pathname === '/api/v1/auth/oidc/callback');
      const back = await anon.call('GET', cb.pathname + cb.search, undefined, { proof: false, redirect: 'manual' });
      expect(back.status).toBe(302);
      const f = new URLSearchParams(new URL(back.headers.get('location')!).hash.slice(1));
      return { state: f.get('sso_state'), code: f.get('sso_code'), iss: f.get('sso_iss') ?? undefined };
    };
    const ssoStart = await sso.post('/api/v1/auth/oidc/start', { return_to: `${b.url}/console` });
    expect(ssoStart.status, JSON.stringify(ssoStart.body)).toBe(200);
    const ssoIn = await sso.post('/api/v1/auth/oidc/finish', await throughProvider(ssoStart.body.authorization_url));
    expect(ssoIn.status, JSON.stringify(ssoIn.body)).toBe(200);
    sso.accessToken = ssoIn.body.access_token;
    const ssoUp = await sso.post('/api/v1/auth/oidc/step-up', { return_to: `${b.url}/console` });
    expect(ssoUp.status, JSON.stringify(ssoUp.body)).toBe(200);
    const upDone = await sso.post('/api/v1/auth/oidc/step-up/finish', await throughProvider(ssoUp.body.authorization_url));
    expect(upDone.status, JSON.stringify(upDone.body)).toBe(200);

    expect(problems).toEqual([]);
    const never = b.routes.map((r) => `${r.method} ${r.url}`).filter((k) => !answered.has(k) && (passkeyPage || !k.includes('passkey')));
    expect(never, 'routes this lifecycle never got a 2xx answer from').toEqual([]);
  }, 90_000);

  it('every audit event the broker stored is catalogued, with an outcome listed for it', async () => {
    await b.ctx.audit.flush();
    const stored = await b.ctx.storage.db.selectFrom('audit_events').select(['type', 'outcome']).distinct().execute();
    const uncatalogued = stored.filter((e) => !isAuditEventType(e.type)).map((e) => e.type);
    expect(uncatalogued).toEqual([]);
    const wrongOutcome = stored.filter((e) => isAuditEventType(e.type) && !(AUDIT_EVENT_TYPES[e.type].outcomes as readonly string[]).includes(e.outcome));
    expect(wrongOutcome).toEqual([]);
    // The check has teeth only if the lifecycle wrote most of the catalogue (what it leaves out
    // needs time to pass, many failures, or a hook receiver: lockouts, rate limits, expiries).
    const seen = new Set(stored.map((e) => e.type));
    const unseen = Object.keys(AUDIT_EVENT_TYPES).filter((t) => !seen.has(t));
    expect(seen.size, `not written by this lifecycle: ${unseen.join(', ')}`).toBeGreaterThanOrEqual(44);
  });
});

describe('the audit catalogue and the broker source agree', () => {
  /** Every `audit.append({ type: ..., outcome: ... })`, `.record(...)` and `.refused(...)` call in broker/. */
  function auditCalls(): { file: string; type: string; outcome: string }[] {
    const out: { file: string; type: string; outcome: string }[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) {
          const text = fs.readFileSync(p, 'utf8');
          for (const m of text.matchAll(/\.(?:append|record|refused)\(\{\s*type:\s*([^,]+?),\s*outcome:\s*('[a-z]+')/g)) out.push({ file: path.relative(root, p), type: m[1]!, outcome: m[2]!.slice(1, -1) });
        }
      }
    };
    walk(path.join(root, 'broker'));
    return out;
  }

  it('every type the broker source writes is in the catalogue, with that outcome', () => {
    const calls = auditCalls();
    // The pattern must read every call there is, or the check below would skip some.
    const sites = (dir: string): number =>
      fs.readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? sites(path.join(dir, e.name)) : e.name.endsWith('.ts') ? (fs.readFileSync(path.join(dir, e.name), 'utf8').match(/audit\.(?:append|record|refused)\(/g) ?? []).length : 0), 0);
    expect(calls.length).toBe(sites(path.join(root, 'broker')));
    expect(calls.length).toBeGreaterThan(40);
    const catalogue = Object.keys(AUDIT_EVENT_TYPES);
    const problems: string[] = [];
    for (const c of calls) {
      // A literal ('grant.granted'), a choice of literals, or a template (`session.${t.to}`).
      const template = /^`([^$`]*)\$\{/.exec(c.type)?.[1];
      if (template !== undefined) {
        // The compiler holds the template to the catalogue; here, some type it can make has this outcome.
        const can = catalogue.filter((t) => t.startsWith(template) && (AUDIT_EVENT_TYPES[t as keyof typeof AUDIT_EVENT_TYPES].outcomes as readonly string[]).includes(c.outcome));
        if (can.length === 0) problems.push(`${c.file}: no ${template}* type is written as ${c.outcome}`);
        continue;
      }
      const types = [...c.type.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
      if (types.length === 0) problems.push(`${c.file}: cannot read the type ${c.type}`);
      for (const t of types) {
        if (!isAuditEventType(t)) problems.push(`${c.file}: ${t} is not in common/audit-events.ts`);
        else if (!(AUDIT_EVENT_TYPES[t].outcomes as readonly string[]).includes(c.outcome)) problems.push(`${c.file}: ${t} written as ${c.outcome}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('lists every session state', () => {
    for (const t of ['session.requested', 'session.awaiting_approval', 'session.approved', 'session.code_issued', 'session.pending_consent', 'session.active', 'session.ended']) expect(isAuditEventType(t), t).toBe(true);
  });
});

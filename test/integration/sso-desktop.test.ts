import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBridge, dispatchBridgeCall, type ChaperoneBridge } from '../../common/bridge/api.js';
import { OidcStartedSchema } from '../../common/protocol/oidc.js';
import { LoginResultSchema } from '../../common/protocol/responses.js';
import { SteppedUpSchema } from '../../common/protocol/step-up.js';
import { startTestBroker, type TestBroker } from '../../kit/broker.js';
import { MainServices } from '../../main/services.js';
import { SsoDesktop } from '../../main/sso-desktop.js';
import { BrokerClient } from '../../renderer/app/broker-client.js';
import * as electron from '../fakes/electron-module.js';
import { signInAtIdp, startTestIdp, type TestIdp } from '../helpers/oidc-idp.js';

/**
 * The desktop app's single sign-on (RFC 8252) without the Electron binary: the real main-process
 * services with their loopback listener on 127.0.0.1, the fake electron `shell` standing where
 * the system browser would open (its "browser" is a person at the real oidc-provider's pages,
 * test/helpers/oidc-idp.ts, who follows the provider's redirect to the listener), and the
 * renderer's own broker client with proofs from main's device key against a real broker.
 */
describe('single sign-on in the desktop app: system browser and loopback redirect', () => {
  let idp: TestIdp;
  let b: TestBroker;
  let services: MainServices;
  let bridge: ChaperoneBridge;
  let api: BrokerClient;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-sso-desktop-'));

  /** The person at the system browser: signs in at the provider and lands on the address it redirects to. */
  const personAtBrowser = (who: { sub: string; password: string }) => async (url: string) => {
    const redirect = await signInAtIdp(url, who.sub, who.password, (u) => u.hostname === '127.0.0.1' && u.pathname === '/sso/callback');
    await fetch(redirect);
  };

  beforeAll(async () => {
    idp = await startTestIdp([
      { sub: 'dana', password: 'dana-pw-1', name: 'Dana Reyes', email: 'dana@acme.example', groups: ['helpdesk'], amr: ['pwd', 'hwk'], acr: 'phr' },
    ]);
    b = await startTestBroker('sqlite', {
      file: { oidc: { issuer: idp.issuer, client_id: idp.clientId, client_secret: idp.clientSecret, claims_to_roles: [{ claim: 'groups', value: 'helpdesk', roles: ['analyst'] }], organisation: 'Acme IT', step_up_acr: 'phr' } as never },
    });
    services = await MainServices.start({ brokerUrl: b.url, dataDir: dir, openExternal: (u) => electron.shell.openExternal(u) });
    bridge = createBridge(
      (m, args) => dispatchBridgeCall(services.handlers, m, args),
      () => () => undefined,
    );
    api = new BrokerClient(bridge, b.url);
  });
  afterAll(async () => {
    await services?.close();
    await b?.destroy();
    await idp?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    electron.shell.opened.length = 0;
    electron.shell.browser = null;
  });

  it('signs in through the system browser: main opens the provider, its one-shot listener takes the answer, the page finishes with the device key', async () => {
    expect((await bridge.policy.get()).ssoLoopback).toBe(true);
    const l = await bridge.sso.begin();
    if (!l.ok) throw new Error(l.reason);
    expect(l.redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sso\/callback$/);
    const st = await api.post('/api/v1/auth/oidc/start', { loopback_redirect_uri: l.redirectUri }, OidcStartedSchema);
    electron.shell.browser = personAtBrowser(idp.users.get('dana')!);
    const a = await bridge.sso.open({ url: st.authorization_url });
    expect(a).toMatchObject({ ok: true, state: st.state });
    expect(electron.shell.opened).toEqual([st.authorization_url]);
    if (!a.ok) return;
    const r = await api.post('/api/v1/auth/oidc/finish', { state: a.state, code: a.code, ...(a.iss ? { iss: a.iss } : {}) }, LoginResultSchema);
    expect(r.account).toMatchObject({ display_name: 'Dana Reyes', roles: ['analyst'], sso_issuer: idp.issuer });
    // One-shot: the listener is gone once it answered.
    await expect(fetch(`${l.redirectUri}?state=${a.state}&code=again`)).rejects.toThrow();

    // Step-up the same way: a re-authorisation with max_age and the acr policy asks for.
    api.tokens = { access: r.access_token, refresh: r.refresh_token };
    const l2 = await bridge.sso.begin();
    if (!l2.ok) throw new Error(l2.reason);
    const up = await api.post('/api/v1/auth/oidc/step-up', { loopback_redirect_uri: l2.redirectUri }, OidcStartedSchema);
    expect(new URL(up.authorization_url).searchParams.get('max_age')).toBe('600');
    expect(new URL(up.authorization_url).searchParams.get('acr_values')).toBe('phr');
    electron.shell.browser = personAtBrowser(idp.users.get('dana')!);
    const a2 = await bridge.sso.open({ url: up.authorization_url });
    if (!a2.ok) throw new Error(a2.reason);
    const done = await api.post('/api/v1/auth/oidc/step-up/finish', { state: a2.state, code: a2.code, ...(a2.iss ? { iss: a2.iss } : {}) }, SteppedUpSchema);
    expect(Math.abs(done.mfa_at - Date.now())).toBeLessThan(60_000);
  });

  it('opens nothing but the provider\'s authorization endpoint, with this listener as redirect and PKCE S256', async () => {
    const l = await bridge.sso.begin();
    if (!l.ok) throw new Error(l.reason);
    const st = await api.post('/api/v1/auth/oidc/start', { loopback_redirect_uri: l.redirectUri }, OidcStartedSchema);
    const good = new URL(st.authorization_url);
    const variant = (f: (u: URL) => void) => {
      const u = new URL(good);
      f(u);
      return u.toString();
    };
    const attempts: [string, string][] = [
      [variant((u) => (u.host = 'evil.example')), 'not_the_provider'],
      [variant((u) => (u.pathname = '/somewhere-else')), 'not_the_provider'],
      ['file:///etc/passwd', 'not_the_provider'],
      [variant((u) => u.searchParams.set('redirect_uri', 'http://127.0.0.1:1/sso/callback')), 'not_this_sign_in'],
      [variant((u) => u.searchParams.set('code_challenge_method', 'plain')), 'not_this_sign_in'],
      [variant((u) => u.searchParams.set('response_type', 'token')), 'not_this_sign_in'],
      [variant((u) => u.searchParams.delete('state')), 'not_this_sign_in'],
    ];
    for (const [url, reason] of attempts) {
      // Each refusal ends the listener: the next attempt needs a fresh begin, as a page would do.
      const again = await bridge.sso.begin();
      if (!again.ok) throw new Error(again.reason);
      const fixed = url.replace(encodeURIComponent(l.redirectUri), encodeURIComponent(again.redirectUri));
      expect(await bridge.sso.open({ url: fixed }), url).toMatchObject({ ok: false, reason });
    }
    expect(electron.shell.opened).toEqual([]);
    // Without a begin, nothing is opened either.
    expect(await bridge.sso.open({ url: st.authorization_url })).toMatchObject({ ok: false, reason: 'not_begun' });
    expect(electron.shell.opened).toEqual([]);
  });

  it('is bounded: no answer in time ends the wait and the listener', async () => {
    const sso = new SsoDesktop({ openExternal: (u) => electron.shell.openExternal(u), brokerUrl: () => b.url, fetch, timeoutMs: 300 });
    const l = await sso.begin();
    if (!l.ok) throw new Error(l.reason);
    const st = await api.post('/api/v1/auth/oidc/start', { loopback_redirect_uri: l.redirectUri }, OidcStartedSchema);
    // The browser opens, the person never signs in.
    expect(await sso.open(st.authorization_url)).toMatchObject({ ok: false, reason: 'no_answer' });
    expect(electron.shell.opened).toEqual([st.authorization_url]);
    await expect(fetch(`${l.redirectUri}?state=${st.state}&code=late`)).rejects.toThrow();
  });

  it('where main has no system browser (the browser host), the page is told to go to the provider itself', async () => {
    const hostDir = fs.mkdtempSync(path.join(dir, 'host-'));
    const plain = await MainServices.start({ brokerUrl: b.url, dataDir: hostDir });
    try {
      expect(await dispatchBridgeCall(plain.handlers, 'policy.get', [])).toMatchObject({ ssoLoopback: false });
      expect(await dispatchBridgeCall(plain.handlers, 'sso.begin', [])).toEqual({ ok: false, reason: 'no_system_browser' });
    } finally {
      await plain.close();
    }
  });
});

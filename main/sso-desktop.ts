import { z } from 'zod';
import { listenForSsoAnswer, type SsoLoopback } from './sso-loopback.js';

/**
 * The desktop app's single sign-on (RFC 8252): the identity provider's pages open in the system
 * browser (the person sees the real address bar, their password manager and passkeys work), and
 * the answer comes back to a one-shot listener on 127.0.0.1 (main/sso-loopback.ts).
 *
 * The page asks for this through the bridge, so main trusts nothing the page says: it opens only
 * an address on the provider's authorization endpoint as the pinned broker names the provider
 * (its `GET /api/v1/auth/oidc` and the provider's own discovery document), with response_type
 * code, PKCE S256, a state, and this very listener as redirect. Anything else would let a page
 * that went wrong open arbitrary addresses in the person's browser.
 */
export interface SsoDesktopOptions {
  /** shell.openExternal in the desktop app; absent where the page goes to the provider itself. */
  openExternal?: ((url: string) => Promise<void>) | undefined;
  /** The pinned broker (main's own address of it, not the page's). */
  brokerUrl: () => string;
  fetch: typeof fetch;
  /** How long one sign-in may wait for the person at the provider (10 minutes, as the broker's flow). */
  timeoutMs?: number;
}

type Refusal = { ok: false; reason: string; detail?: string };

const BrokerSso = z.object({ enabled: z.boolean(), issuer: z.string().max(300).nullable() });
const Discovery = z.object({ issuer: z.string().max(300), authorization_endpoint: z.string().url().max(1000) });

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** https, or http on this machine only (a provider under test), never anything a browser would hand to another program. */
function acceptableScheme(u: URL): boolean {
  return u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname));
}

export class SsoDesktop {
  private listener: SsoLoopback | null = null;
  private busy = false;

  constructor(private readonly opts: SsoDesktopOptions) {}

  get available(): boolean {
    return this.opts.openExternal !== undefined;
  }

  /** A fresh listener (one at a time: a new sign-in ends the one that was waiting). */
  async begin(): Promise<{ ok: true; redirectUri: string } | Refusal> {
    if (!this.opts.openExternal) return { ok: false, reason: 'no_system_browser' };
    this.listener?.close();
    this.listener = await listenForSsoAnswer(this.opts.timeoutMs);
    return { ok: true, redirectUri: this.listener.redirectUri };
  }

  /** Opens the provider's page for the listener begin() made and waits for its answer. */
  async open(address: string): Promise<{ ok: true; state: string; code: string; iss?: string } | Refusal> {
    const open = this.opts.openExternal;
    const listener = this.listener;
    if (!open) return { ok: false, reason: 'no_system_browser' };
    if (!listener) return { ok: false, reason: 'not_begun', detail: 'start the sign-in again' };
    if (this.busy) return { ok: false, reason: 'already_open', detail: 'a sign-in is already waiting in the browser' };
    const checked = await this.check(address, listener.redirectUri);
    if (!checked.ok) {
      listener.close();
      this.listener = null;
      return checked;
    }
    this.busy = true;
    try {
      const answer = listener.answer(checked.state);
      // Settled below, or by close() when the browser could not be opened: never unhandled.
      answer.catch(() => undefined);
      await open(address);
      const a = await answer;
      return { ok: true, state: a.state, code: a.code, ...(a.iss !== undefined ? { iss: a.iss } : {}) };
    } catch (err) {
      return { ok: false, reason: 'no_answer', detail: String((err as Error)?.message ?? err).slice(0, 300) };
    } finally {
      this.busy = false;
      if (this.listener === listener) this.listener = null;
      listener.close();
    }
  }

  close(): void {
    this.listener?.close();
    this.listener = null;
  }

  private async check(address: string, redirectUri: string): Promise<{ ok: true; state: string } | Refusal> {
    let u: URL;
    try {
      u = new URL(address);
    } catch {
      return { ok: false, reason: 'not_the_provider' };
    }
    let endpoint: URL;
    try {
      endpoint = await this.authorizationEndpoint();
    } catch (err) {
      return { ok: false, reason: 'provider_unknown', detail: String((err as Error)?.message ?? err).slice(0, 300) };
    }
    if (!acceptableScheme(u) || u.username || u.password || u.hash || u.origin !== endpoint.origin || u.pathname !== endpoint.pathname) {
      return { ok: false, reason: 'not_the_provider', detail: `only ${endpoint.origin}${endpoint.pathname} is opened` };
    }
    const q = u.searchParams;
    const state = q.get('state');
    if (q.get('redirect_uri') !== redirectUri || q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') || !state) {
      return { ok: false, reason: 'not_this_sign_in', detail: 'the address is not a code-with-PKCE sign-in that answers to this app' };
    }
    return { ok: true, state };
  }

  /** Asked each time: the broker's configuration may change, and a sign-in is rare. */
  private async authorizationEndpoint(): Promise<URL> {
    const base = this.opts.brokerUrl().replace(/\/+$/, '');
    const sso = BrokerSso.parse(await this.json(`${base}/api/v1/auth/oidc`));
    if (!sso.enabled || !sso.issuer) throw new Error('the broker has no single sign-on set up');
    const issuer = new URL(sso.issuer);
    if (!acceptableScheme(issuer)) throw new Error('the identity provider is not on https');
    const d = Discovery.parse(await this.json(`${sso.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`));
    if (d.issuer !== sso.issuer) throw new Error("the provider's discovery document names another issuer");
    const endpoint = new URL(d.authorization_endpoint);
    if (!acceptableScheme(endpoint)) throw new Error("the provider's authorization endpoint is not on https");
    return endpoint;
  }

  private async json(url: string): Promise<unknown> {
    const res = await this.opts.fetch(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`${new URL(url).host} answered ${res.status}`);
    const text = await res.text();
    if (text.length > 64 * 1024) throw new Error(`${new URL(url).host} answered too much`);
    return JSON.parse(text) as unknown;
  }
}

import { z } from 'zod';
import { OidcConfigSchema, OidcStartedSchema } from '../../../common/protocol/oidc.js';
import { LoginResultSchema } from '../../../common/protocol/responses.js';
import { SteppedUpSchema } from '../../../common/protocol/step-up.js';
import { BrokerError } from '../broker-client.js';
import { getBridge, keepRefreshToken, staffBroker } from '../services.js';
import { useAppStore } from '../store.js';
import { askAgainAfterStepUp } from './session.js';

/**
 * Single sign-on at the organisation's identity provider, from the staff screens.
 *
 * - In the desktop app, main opens the provider in the system browser and listens on a loopback
 *   redirect (bridge `sso.begin`/`sso.open`, main/sso-desktop.ts); the page never leaves.
 * - In a browser (the console), the page itself goes to the provider; the broker's callback sends
 *   it back here with the answer in the fragment (never sent to a server), which boot() reads.
 *   A step-up happens in a second tab instead, so a live session in this one is not left; that
 *   tab hands the answer back over a BroadcastChannel and closes.
 *
 * The answer is worth nothing without this device's key: only the device that started may finish.
 */

const PENDING_KEY = 'chaperone.sso.pending';
const CHANNEL = 'chaperone-sso';
/** The step-up tab's address: the same page, told by its query to hand the answer back and do nothing else. */
const POPUP_QUERY = 'sso=step-up';

function store() {
  return useAppStore.getState();
}

export interface SsoAnswer {
  state: string;
  code: string | null;
  iss: string | null;
  error: string | null;
  errorDescription: string | null;
}

/** The broker's answer in the address's fragment (`#sso_state=...&sso_code=...`), or null. */
export function ssoAnswerFromHash(hash: string): SsoAnswer | null {
  if (!hash.startsWith('#sso_')) return null;
  const f = new URLSearchParams(hash.slice(1));
  const state = f.get('sso_state');
  if (!state || state.length > 512) return null;
  const clip = (v: string | null, n: number) => (v === null ? null : v.slice(0, n));
  return { state, code: clip(f.get('sso_code'), 2048), iss: clip(f.get('sso_iss'), 1000), error: clip(f.get('sso_error'), 100), errorDescription: clip(f.get('sso_error_description'), 300) };
}

export function isStepUpTab(search: string): boolean {
  return new URLSearchParams(search).get('sso') === 'step-up';
}

/** The provider as people know it: its host name (the consent screen names it the same way). */
export function providerName(issuer: string): string {
  try {
    return new URL(issuer).host;
  } catch {
    return issuer;
  }
}

/** Whether the broker has single sign-on (the sign-in screen shows its button from this). */
export async function loadSsoConfig(): Promise<void> {
  try {
    const c = await staffBroker().get('/api/v1/auth/oidc', OidcConfigSchema);
    store().setStaff({ sso: c.enabled && c.issuer ? { issuer: c.issuer } : null });
  } catch {
    // No answer: the password sign-in still works, and the button is not offered.
    store().setStaff({ sso: null });
  }
}

function sentence(err: unknown): string {
  const m = err instanceof BrokerError ? err.message : (err as Error).message;
  return `${m.charAt(0).toUpperCase()}${m.slice(1)}${/[.!?]$/.test(m) ? '' : '.'}`;
}

/** Why the desktop app's sign-in did not come back, in words (main's reasons are short codes). */
function desktopRefusal(reason: string): string {
  switch (reason) {
    case 'no_answer':
      return 'The sign-in in your browser did not finish in time, or was cancelled. Try again.';
    case 'already_open':
      return 'A sign-in is already waiting in your browser: finish it there, or close it and try again.';
    case 'provider_unknown':
      return 'The identity provider cannot be reached right now. Try again in a moment.';
    default:
      return 'This app refused to open that sign-in page. Try again; if it keeps happening, tell your administrator.';
  }
}

function here(): string {
  return `${location.origin}${location.pathname}`;
}

function remember(state: string): void {
  try {
    sessionStorage.setItem(PENDING_KEY, state);
  } catch {
    // No storage: the broker still checks the state and the device; the page just cannot.
  }
}

function recalled(): string | null {
  try {
    const s = sessionStorage.getItem(PENDING_KEY);
    sessionStorage.removeItem(PENDING_KEY);
    return s;
  } catch {
    return null;
  }
}

async function signedIn(answer: { state: string; code: string; iss?: string | null }): Promise<void> {
  const r = await staffBroker().post('/api/v1/auth/oidc/finish', { state: answer.state, code: answer.code, ...(answer.iss ? { iss: answer.iss } : {}) }, LoginResultSchema);
  staffBroker().tokens = { access: r.access_token, refresh: r.refresh_token };
  await keepRefreshToken(r.refresh_token);
  store().setStaff({ account: r.account, signingIn: false, error: null });
}

/** "Sign in with your organisation": to the provider and back (see the top of this file). */
export async function signInWithSso(): Promise<void> {
  const s = store();
  s.setStaff({ signingIn: true, error: null });
  try {
    if (s.policy?.ssoLoopback) {
      const l = await getBridge().sso.begin();
      if (!l.ok) throw new Error(desktopRefusal(l.reason));
      const st = await staffBroker().post('/api/v1/auth/oidc/start', { loopback_redirect_uri: l.redirectUri }, OidcStartedSchema);
      const a = await getBridge().sso.open({ url: st.authorization_url });
      if (!a.ok) throw new Error(desktopRefusal(a.reason));
      await signedIn(a);
      return;
    }
    const st = await staffBroker().post('/api/v1/auth/oidc/start', { return_to: here() }, OidcStartedSchema);
    remember(st.state);
    location.assign(st.authorization_url);
  } catch (err) {
    store().setStaff({ signingIn: false, error: sentence(err) });
  }
}

/** Back from the provider in this tab: finish the sign-in it started. */
export async function finishSsoSignIn(answer: SsoAnswer): Promise<void> {
  const started = recalled();
  const s = store();
  s.setStaff({ signingIn: true, error: null });
  const issuer = s.staff.sso?.issuer;
  const at = issuer ? ` at ${providerName(issuer)}` : '';
  if (answer.error || !answer.code) {
    s.setStaff({ signingIn: false, error: `The sign-in${at} did not finish${answer.errorDescription ? `: ${answer.errorDescription}` : ''}. Try again.` });
    return;
  }
  if (started !== answer.state) {
    // Not the sign-in this tab started (an old or a copied address): nothing is redeemed.
    s.setStaff({ signingIn: false, error: 'That sign-in was not started here, or it is over. Sign in again.' });
    return;
  }
  try {
    await signedIn({ state: answer.state, code: answer.code, iss: answer.iss });
  } catch (err) {
    store().setStaff({ signingIn: false, error: sentence(err) });
  }
}

/**
 * The step-up tab, back from the provider: hands the answer to the tab that asked (same origin
 * only) and closes. It signs nothing in itself and reads no kept token.
 */
export function handBackStepUp(answer: SsoAnswer): boolean {
  try {
    const ch = new BroadcastChannel(CHANNEL);
    ch.postMessage({ state: answer.state, code: answer.code, iss: answer.iss, error: answer.error, errorDescription: answer.errorDescription });
    ch.close();
  } catch {
    return false;
  }
  setTimeout(() => window.close(), 300);
  return true;
}

/** What the step-up tab posts, parsed as anything else from outside this page is. */
const HandBackSchema = z
  .object({
    state: z.string().min(1).max(512),
    code: z.string().max(2048).nullable(),
    iss: z.string().max(1000).nullable(),
    error: z.string().max(100).nullable(),
    errorDescription: z.string().max(300).nullable(),
  })
  .strict();

function waitForHandBack(state: string, timeoutMs = 10 * 60_000): Promise<SsoAnswer> {
  return new Promise((resolve, reject) => {
    const ch = new BroadcastChannel(CHANNEL);
    const timer = setTimeout(() => {
      ch.close();
      reject(new Error('no answer from the identity provider in time: try again'));
    }, timeoutMs);
    ch.onmessage = (e: MessageEvent) => {
      const parsed = HandBackSchema.safeParse(e.data);
      const a = parsed.success ? parsed.data : null;
      // Another tab's sign-in, or anything else on this channel, is not ours.
      if (!a || a.state !== state) return;
      clearTimeout(timer);
      ch.close();
      resolve(a);
    };
  });
}

/**
 * Step-up for an account that signs in with single sign-on: a re-authorisation at the provider
 * (max_age from policy, and the acr it requires), then the refused request again. Call it from
 * the click itself: a browser opens a second tab only for a person's gesture. A sentence when it
 * did not work, else null.
 */
export async function stepUpWithSsoAndRetry(): Promise<string | null> {
  const s = store();
  try {
    let answer: { state: string; code: string; iss?: string | null | undefined };
    if (s.policy?.ssoLoopback) {
      const l = await getBridge().sso.begin();
      if (!l.ok) return desktopRefusal(l.reason);
      const st = await staffBroker().post('/api/v1/auth/oidc/step-up', { loopback_redirect_uri: l.redirectUri }, OidcStartedSchema);
      const a = await getBridge().sso.open({ url: st.authorization_url });
      if (!a.ok) return desktopRefusal(a.reason);
      answer = a;
    } else {
      const tab = window.open('about:blank', '_blank', 'popup,width=560,height=720');
      if (!tab) return 'Your browser blocked the sign-in window: allow pop-ups for this page and try again.';
      let st;
      try {
        st = await staffBroker().post('/api/v1/auth/oidc/step-up', { return_to: `${here()}?${POPUP_QUERY}` }, OidcStartedSchema);
      } catch (err) {
        tab.close();
        throw err;
      }
      const back = waitForHandBack(st.state);
      tab.location.href = st.authorization_url;
      const a = await back;
      if (a.error || !a.code) return `The sign-in did not finish${a.errorDescription ? `: ${a.errorDescription}` : ''}. Try again.`;
      answer = { state: a.state, code: a.code, iss: a.iss };
    }
    const r = await staffBroker().post('/api/v1/auth/oidc/step-up/finish', { state: answer.state, code: answer.code, ...(answer.iss ? { iss: answer.iss } : {}) }, SteppedUpSchema);
    const now = store();
    if (now.staff.account) now.setStaff({ account: { ...now.staff.account, mfa_at: r.mfa_at } });
    now.setLive({ stepUp: null });
    askAgainAfterStepUp();
    return null;
  } catch (err) {
    return sentence(err);
  }
}

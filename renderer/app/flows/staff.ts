import { passkeySignInAnswer } from './passkeys.js';
import type { z } from 'zod';
import {
  CodeResultSchema,
  ExtensionDecidedSchema,
  LoginResultSchema,
  MeSchema,
  PendingExtensionsSchema,
  ReissuedSchema,
  SessionListSchema,
  SessionTokenSchema,
  SessionViewSchema,
  SignedOutSchema,
} from '../../../common/protocol/responses.js';
import { BrokerError, type PendingExtension, type SessionView } from '../broker-client.js';
import { getBridge, keepRefreshToken, staffBroker, tabRefreshToken } from '../services.js';
import { useAppStore } from '../store.js';
import { beginFirstSignIn } from './first-sign-in.js';
import { watchSessionState } from './session-watch.js';
import { capabilityList } from '../wording.js';
import { startAnalyst } from './session.js';

/** Analyst and approver: sign-in, the request and its life until the viewer opens; the approval queue. */

function store() {
  return useAppStore.getState();
}

function message(err: unknown): string {
  return err instanceof BrokerError ? err.message : (err as Error).message;
}

export async function signIn(username: string, password: string, totp: string, o: { passkey?: boolean } = {}): Promise<void> {
  const s = store();
  s.setStaff({ signingIn: true, error: null });
  try {
    const second = o.passkey ? { passkey: await passkeySignInAnswer(username, password) } : totp ? { totp } : {};
    const r = await staffBroker().post('/api/v1/auth/login', { username, password, ...second }, LoginResultSchema);
    staffBroker().tokens = { access: r.access_token, refresh: r.refresh_token };
    await keepRefreshToken(r.refresh_token);
    s.setStaff({ account: r.account, signingIn: false });
  } catch (err) {
    // A one-time password: the first-sign-in screens take over (no code was spent on it).
    if (err instanceof BrokerError && err.code === 'password_change_required') return beginFirstSignIn(username, password);
    const text = err instanceof BrokerError && err.status === 401 ? 'Sign-in failed: check the username, password and authenticator code.' : message(err);
    s.setStaff({ signingIn: false, error: text });
  }
}

export async function signOut(): Promise<void> {
  stopPolling();
  try {
    const refresh = staffBroker().tokens?.refresh;
    if (refresh) await staffBroker().post('/api/v1/auth/logout', { refresh_token: refresh }, SignedOutSchema);
  } catch {
    // Signing out locally is what matters; the token expires by itself.
  }
  staffBroker().tokens = null;
  await keepRefreshToken(null);
  store().setStaff({ account: null, session: null, code: null, error: null });
}

/**
 * At start: a refresh token kept by main from the last run signs the analyst back in, without
 * the password and authenticator code. A spent or revoked one is forgotten silently.
 */
export async function resumeStaff(): Promise<void> {
  if (!store().policy?.analystMode) return;
  let token: string | null = null;
  try {
    token = (await getBridge().staff.loadRefreshToken()).token;
  } catch {
    // Main could not say; this tab's own copy (a reload in the browser host) may still serve.
  }
  token ??= tabRefreshToken();
  if (!token || !(await staffBroker().resume(token))) return;
  try {
    const account = await staffBroker().get('/api/v1/me', MeSchema);
    store().setStaff({ account });
  } catch {
    staffBroker().tokens = null;
  }
}

export interface RequestForm {
  ticket: string;
  reason: string;
  capabilities: string[];
  durationMinutes: number;
}

let poll: ReturnType<typeof setInterval> | null = null;
let pollBusy = false;
let pollAgain = false;

let unwatch: (() => void) | null = null;
/**
 * The session token asked for the moment the push says `active`, while the session itself is read
 * again: the two round trips overlap instead of following each other (first frame sooner).
 */
let tokenAhead: { id: string; token: Promise<z.infer<typeof SessionTokenSchema>> } | null = null;

export function stopPolling(): void {
  if (poll) clearInterval(poll);
  poll = null;
  unwatch?.();
  unwatch = null;
}

export async function requestSession(f: RequestForm): Promise<void> {
  const s = store();
  s.setStaff({ busy: true, error: null, code: null });
  try {
    const session = await staffBroker().post('/api/v1/sessions', { ticket: f.ticket, reason: f.reason, capabilities: f.capabilities, duration_minutes: f.durationMinutes }, SessionViewSchema);
    s.setStaff({ session, busy: false });
    s.setLive({ notice: null, ended: null, state: 'idle', chat: [], warnings: [], sas: null });
    await afterChange(session);
    startPolling();
  } catch (err) {
    s.setStaff({ busy: false, error: message(err) });
  }
}

function startPolling(): void {
  stopPolling();
  poll = setInterval(() => void refresh(), 1000);
  // The broker pushes each move (docs/api.md, session events); the poll stays for when it cannot.
  const id = store().staff.session?.id;
  if (id) unwatch = watchSessionState(staffBroker(), id, (state) => {
    if (state === 'active' && tokenAhead?.id !== id) {
      const token = staffBroker().post(`/api/v1/sessions/${id}/token`, {}, SessionTokenSchema);
      token.catch(() => undefined);
      tokenAhead = { id, token };
    }
    if (state !== store().staff.session?.state) void refresh();
  });
}

async function refresh(): Promise<void> {
  const id = store().staff.session?.id;
  if (!id) return;
  // A push that arrives during a poll must not wait for the next one: it runs right after.
  if (pollBusy) {
    pollAgain = true;
    return;
  }
  pollBusy = true;
  try {
    const session = await staffBroker().get(`/api/v1/sessions/${id}`, SessionViewSchema);
    const before = store().staff.session;
    store().setStaff({ session });
    if (before?.state !== session.state) await afterChange(session);
  } catch {
    // A missed poll is retried a second later.
  } finally {
    pollBusy = false;
  }
  if (pollAgain) {
    pollAgain = false;
    await refresh();
  }
}

/** What the analyst's side does when the request moves on. */
async function afterChange(session: SessionView): Promise<void> {
  const s = store();
  switch (session.state) {
    case 'approved': {
      const c = await staffBroker().post(`/api/v1/sessions/${session.id}/code`, {}, CodeResultSchema);
      s.setStaff({ code: { display: c.code_display, expiresAt: c.expires_at, joinUrl: c.join_url ?? null }, session: { ...session, state: 'code_issued' } });
      return;
    }
    case 'active': {
      stopPolling();
      if (s.live.role === 'analyst' && s.live.sessionId === session.id) return;
      const ahead = tokenAhead?.id === session.id ? tokenAhead.token : null;
      tokenAhead = null;
      // A token asked ahead that failed is asked again here, as it always was.
      const t = (ahead ? await ahead.catch(() => null) : null) ?? (await staffBroker().post(`/api/v1/sessions/${session.id}/token`, {}, SessionTokenSchema));
      startAnalyst({
        sessionId: session.id,
        brokerUrl: store().policy!.brokerUrl.replace(/\/+$/, ''),
        token: t.token,
        expiresAt: t.expires_at,
        iceServers: t.ice_servers,
        peerName: 'the end user',
        peerOrg: null,
        ticket: session.ticket,
        capabilities: session.capabilities,
      });
      return;
    }
    case 'ended':
      stopPolling();
      if (s.live.role !== 'analyst') s.setLive({ state: 'ended', ended: { reason: session.end_reason ?? 'completed', revoked: [], at: Date.now() } });
      return;
    default:
      return;
  }
}

/** Cancel a request that has not become a session yet. */
export async function cancelRequest(): Promise<void> {
  const id = store().staff.session?.id;
  if (!id) return;
  try {
    await staffBroker().post(`/api/v1/sessions/${id}/end`, {}, SessionViewSchema);
  } catch (err) {
    store().setStaff({ error: message(err) });
  }
  await refresh();
}

/**
 * A code that expired unused, while the approval still holds: a new code under it (a new session
 * on the broker, the old code staying dead), without asking the approver again.
 */
export async function reissueCode(): Promise<void> {
  const id = store().staff.session?.id;
  if (!id) return;
  store().setStaff({ busy: true, error: null });
  try {
    const r = await staffBroker().post(`/api/v1/sessions/${id}/reissue`, {}, ReissuedSchema);
    store().setStaff({ busy: false, session: r.session, code: { display: r.code.code_display, expiresAt: r.code.expires_at, joinUrl: r.code.join_url ?? null } });
    store().setLive({ notice: null, ended: null, state: 'idle', chat: [], warnings: [], sas: null });
    startPolling();
  } catch (err) {
    store().setStaff({ busy: false, error: message(err) });
  }
}

/** Back to the request form after a session ended. */
export function newRequest(): void {
  stopPolling();
  store().setStaff({ session: null, code: null, error: null });
  store().beginLive({});
}

// ---------------------------------------------------------------- approver

let approvalsPoll: ReturnType<typeof setInterval> | null = null;

/** The pending requests the last notice was about: a notice goes once the list moves on. */
let noticeFor: string | null = null;
let seenPending: Set<string> | null = null;

const listKey = (pending: SessionView[]) => pending.map((p) => p.id).sort().join(',');

/**
 * A desktop notification for requests that arrived since the last look: through main where it
 * can show one (the desktop app, Electron's Notification), else the page's own where the person
 * allowed it (the browser host).
 */
function notifyNew(pending: SessionView[]): void {
  const before = seenPending;
  seenPending = new Set(pending.map((p) => p.id));
  if (!before) return;
  for (const p of pending) {
    if (before.has(p.id)) continue;
    const title = `Approval needed: ${p.ticket}`;
    const body = `${p.analyst.display_name} asks to ${capabilityList(p.capabilities)} for ${p.duration_minutes} minutes.`;
    void getBridge()
      .notify.show({ title, body: body.slice(0, 300), tag: p.id })
      .then(
        (r) => r.shown,
        () => false,
      )
      .then((shown) => {
        if (shown || typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
        try {
          new Notification(title, { body, tag: p.id });
        } catch {
          // No notifications here (an embedded window refuses them): the title count still shows it.
        }
      });
  }
}

export async function loadApprovals(): Promise<void> {
  const s = store();
  try {
    const [pending, active, extensions] = await Promise.all([
      staffBroker().get('/api/v1/sessions?state=awaiting_approval', SessionListSchema),
      staffBroker().get('/api/v1/sessions?state=active', SessionListSchema),
      // Only approvers decide more time; an admin without the role would be refused the list.
      s.staff.account?.roles.includes('approver') ? staffBroker().get('/api/v1/extensions/pending', PendingExtensionsSchema) : Promise.resolve({ extensions: [] }),
    ]);
    notifyNew(pending.sessions);
    // A notice is about the list as it was when it was given: once the list moves on, it goes.
    const moved = noticeFor !== null && noticeFor !== listKey(pending.sessions);
    if (moved) noticeFor = null;
    s.setApprovals({ pending: pending.sessions, active: active.sessions, extensions: extensions.extensions, loaded: true, error: null, ...(moved ? { message: null } : {}) });
  } catch (err) {
    s.setApprovals({ error: message(err), loaded: true });
  }
}

export function watchApprovals(): () => void {
  void loadApprovals();
  if (approvalsPoll) clearInterval(approvalsPoll);
  approvalsPoll = setInterval(() => void loadApprovals(), 2000);
  return () => {
    if (approvalsPoll) clearInterval(approvalsPoll);
    approvalsPoll = null;
  };
}

/** One approver decision: post it, say what happened (or why not), and refresh the lists. */
async function decide(path: string, body: unknown, answer: z.ZodType, done: string): Promise<void> {
  try {
    await staffBroker().post(path, body, answer);
    store().setApprovals({ message: done, error: null });
  } catch (err) {
    store().setApprovals({ error: message(err), message: null });
  }
  noticeFor = null;
  await loadApprovals();
  noticeFor = listKey(store().approvals.pending);
}

export function approve(id: string): Promise<void> {
  return decide(`/api/v1/sessions/${id}/approve`, {}, SessionViewSchema, 'Approved. The analyst can now give the end user a code.');
}

export function reject(id: string, reason: string): Promise<void> {
  return decide(`/api/v1/sessions/${id}/reject`, { reason }, SessionViewSchema, 'Rejected. The analyst sees your reason.');
}

/** An approver lets a live session run longer; the end user is asked next. */
export function decideExtension(x: PendingExtension, approve: boolean, reason = ''): Promise<void> {
  return decide(
    `/api/v1/sessions/${x.session_id}/extensions/${x.id}/${approve ? 'approve' : 'reject'}`,
    !approve && reason ? { reason } : {},
    ExtensionDecidedSchema,
    approve ? `Approved ${x.minutes} more minutes for ${x.ticket}. The end user is asked now.` : `Rejected ${x.minutes} more minutes for ${x.ticket}. The session keeps its current end.`,
  );
}

/** The kill switch: ends a live session at once, on both sides. */
export function kill(id: string, reason = ''): Promise<void> {
  return decide(`/api/v1/sessions/${id}/kill`, reason ? { reason } : {}, SessionViewSchema, 'The session was ended with the kill switch.');
}

import { create, type StateCreator } from 'zustand';
import type { DisplayView, OfferView, PolicyView } from '../../common/bridge/api.js';
import type { GrantDirection } from '../../common/grant-direction.js';
import type { TransferView } from '../session/file-transfers.js';
import type { AccountView, PendingExtension, SessionView } from './broker-client.js';
import type { ControlState, LiveSessionRow, PresenceEntry } from '../../common/protocol/watch.js';

/**
 * One bound store made of typed slices (the zustand "slices" pattern). Each slice owns its part of
 * the state and its synchronous actions; the flows in ./flows/ do the async work (broker calls, the
 * session engine) and call these actions. `resetStore()` puts everything back for tests.
 */

// ---------- app: routing, policy, the broker's time ----------

export type Route = 'join' | 'staff';

/** The organisation as the broker names it to end users (renderer/app/flows/branding.ts). */
export interface ShownBranding {
  name: string;
  helpLine: string | null;
  /** The SHA-256 the fetched logo's bytes were checked to have, and a blob: URL of them; null without a logo. */
  logoSha256: string | null;
  logoUrl: string | null;
}

export interface AppSlice {
  route: Route;
  policy: PolicyView | null;
  branding: ShownBranding | null;
  /** Broker time minus local time, learned from the broker; only ever moves expiry earlier. */
  clockOffsetMs: number;
  /** Ticks once a second so countdowns re-render. */
  tick: number;
  setRoute(r: Route): void;
  setPolicy(p: PolicyView): void;
  setBranding(b: ShownBranding): void;
  learnBrokerTime(brokerNowMs: number, localNowMs: number): void;
  bump(): void;
}

// ---------- end user: code entry and consent ----------

export type JoinPhase = 'enter' | 'redeeming' | 'consent' | 'starting' | 'lapsed' | 'live' | 'ended';

export interface JoinSlice {
  join: {
    phase: JoinPhase;
    code: string;
    error: string | null;
    offer: string | null;
    offerView: OfferView | null;
    offerExpiresAt: number | null;
    /** Why the offer can no longer be answered (phase 'lapsed'). */
    lapsed: 'expired' | 'withdrawn' | null;
    /** This machine's displays (main lists them), and who picks among them: this app or the browser. */
    displays: { picker: 'main' | 'system'; list: DisplayView[] } | null;
    /** The display the end user chose on the consent screen (picker 'main'). */
    displayId: string | null;
  };
  setJoin(patch: Partial<JoinSlice['join']>): void;
}

// ---------- the live session (either role) ----------

/** "Display 2 of 2, 1280×720"; `id` only on the end user's side (the analyst never learns it). */
export interface ShownDisplayView {
  id: string | null;
  index: number;
  count: number;
  width: number;
  height: number;
}

export type LiveState = 'idle' | 'connecting' | 'waiting_peer' | 'connected' | 'interrupted' | 'ended';

export interface ChatLine {
  from: 'me' | 'them';
  text: string;
  at: number;
}

export interface ControlRequest {
  requestId: string;
  capability: string;
  /** Clipboard and files: the way the analyst asked data to go; null for control. */
  direction?: GrantDirection | null;
  receivedAt: number;
  /** When the analyst last passed a second factor (broker ms), as the broker said with the request. */
  mfaAt?: number | null;
}

export interface LiveSlice {
  live: {
    role: 'end_user' | 'analyst' | null;
    sessionId: string | null;
    state: LiveState;
    expiresAt: number | null;
    sas: string | null;
    /** End user: said yes to "does the analyst read the same code?" in this session. */
    sasConfirmed: boolean;
    /** Who is on the other side, as the offer (end user) or the request (analyst) named them. */
    peerName: string | null;
    peerOrg: string | null;
    ticket: string | null;
    capabilities: string[];
    /** Grants in force right now, as the broker reported them. */
    granted: string[];
    /** The way each granted clipboard or files grant lets data go. */
    grantDirections: Record<string, GrantDirection>;
    /** End user: a request waiting for Allow or Deny. */
    controlRequest: ControlRequest | null;
    /** Analyst: a request sent and not answered yet. */
    pendingRequest: string | null;
    /** Analyst: the broker wants a fresh second factor before this request (common/step-up.ts). */
    stepUp: { capability: string; message: string } | null;
    controlLocked: boolean;
    /** Analyst: the end user's computer said its gate takes control now (until control is taken back). */
    controlLive: boolean;
    warnings: number[];
    /** The end user's screen is not being sent (end user: they paused it; analyst: they said so). */
    sharingPaused: boolean;
    /** Which display is shared (end user: the one main confirmed; analyst: as the end user's side said). */
    display: ShownDisplayView | null;
    hasVideo: boolean;
    chat: ChatLine[];
    extensionOffer: { extensionId: string; minutes: number; newExpiresAt: number } | null;
    /** Analyst: a request for more time not decided yet (an approver may have to look first). */
    extensionRequest: { minutes: number; phase: 'asked' | 'awaiting_approval' } | null;
    notice: string | null;
    /** File transfers of this session, the latest last (at most 5 kept). */
    transfers: TransferView[];
    /**
     * Clipboard sync in this session, as this side saw it: the last text that arrived from the
     * other side (analyst only: the end user's own clipboard holds it), and the last thing said
     * about it (a picture refused, the browser refusing access).
     */
    clipboard: {
      received: string | null;
      sent: number;
      note: string | null;
      /** Analyst: the last picture from the end user (an object URL of its PNG) and its size. */
      image: { url: string; bytes: number } | null;
      /** Analyst: whether the end user's side said this session may share pictures. */
      images: boolean;
    };
    /** Grants that ended while the session went on (taken back, given up, expired). */
    revokedDuring: { kind: string; by: string }[];
    /** `note`: the words of whoever pulled the kill switch, if they gave any. */
    ended: { reason: string; revoked: string[]; at: number; note?: string | null } | null;
    /** Everyone present (the analyst and every watcher), as the broker last said. */
    present: PresenceEntry[];
    /** More watchers the policy needs before control may be asked for (0: none needed now). */
    watchersNeeded: number;
    /** Control suspended by a watcher or the watcher requirement (null: never said, so not). */
    control: ControlState | null;
    /** Analyst: the watchers' notes, the latest last. */
    notes: { from: string; text: string; at: number }[];
  };
  setLive(patch: Partial<LiveSlice['live']>): void;
  /**
   * A session starts (or the analyst goes back to the form): the live state starts over from
   * nothing but the patch. Nothing of the last session (a lock, a pause, a prompt) carries over.
   */
  beginLive(patch: Partial<LiveSlice['live']>): void;
  addChat(line: ChatLine): void;
  setGrant(capability: string, granted: boolean, by?: string, direction?: GrantDirection | null): void;
  setTransfer(t: TransferView): void;
}

// ---------- staff: sign-in, request, approval status, code ----------

/** Between the one-time password and the console (flows/first-sign-in.ts). */
export interface FirstSignInState {
  username: string;
  /** Kept in memory only, so the screen can say the new password must differ from it. */
  oneTimePassword: string;
  setupToken: string;
  displayName: string;
  totpRequired: boolean;
  enrolment: { secret: string; uri: string } | null;
  rules: { id: string; text: string }[];
  step: 'password' | 'totp';
  newPassword: string;
  error: string | null;
  busy: boolean;
}

export interface StaffSlice {
  staff: {
    account: AccountView | null;
    signingIn: boolean;
    error: string | null;
    /** The analyst's current request. */
    session: SessionView | null;
    /** The join code, with the https form of its link when the broker gives one. */
    code: { display: string; expiresAt: number; joinUrl: string | null } | null;
    busy: boolean;
    firstSignIn: FirstSignInState | null;
    /** The broker's single sign-on (its identity provider), or null: the sign-in screen offers it only then. */
    sso: { issuer: string } | null;
  };
  setStaff(patch: Partial<StaffSlice['staff']>): void;
}

// ---------- approver ----------

export interface ApprovalsSlice {
  approvals: {
    pending: SessionView[];
    /** Requests for more time on live sessions that wait for an approver. */
    extensions: PendingExtension[];
    active: SessionView[];
    error: string | null;
    message: string | null;
    loaded: boolean;
  };
  setApprovals(patch: Partial<ApprovalsSlice['approvals']>): void;
}

// ---------- supervisor: the Live screen and the session being watched ----------

export interface WatchingState {
  sessionId: string;
  row: LiveSessionRow;
  phase: 'opening' | 'watching' | 'ended';
  /** Whether this watcher counts towards required watchers (not the session's approver). */
  counts: boolean;
  /** Whether a picture comes (only a recorded session's). */
  picture: boolean;
  present: PresenceEntry[];
  watchersNeeded: number;
  control: ControlState | null;
  grants: string[];
  expiresAt: number;
  ended: { reason: string; note: string | null } | null;
  /** The last moderation said back (sent, refused). */
  message: { kind: 'info' | 'error'; text: string } | null;
  busy: boolean;
}

export interface WatchSlice {
  watch: {
    rows: LiveSessionRow[];
    loaded: boolean;
    error: string | null;
    current: WatchingState | null;
  };
  setWatch(patch: Partial<WatchSlice['watch']>): void;
  setWatching(patch: Partial<WatchingState>): void;
}

export type AppState = AppSlice & JoinSlice & LiveSlice & StaffSlice & ApprovalsSlice & WatchSlice;

type Slice<T> = StateCreator<AppState, [], [], T>;

const initialApp = { route: 'join' as Route, policy: null, branding: null, clockOffsetMs: 0, tick: 0 };
const initialJoin: JoinSlice['join'] = { phase: 'enter', code: '', error: null, offer: null, offerView: null, offerExpiresAt: null, lapsed: null, displays: null, displayId: null };
const initialLive: LiveSlice['live'] = {
  role: null,
  sessionId: null,
  state: 'idle',
  expiresAt: null,
  sas: null,
  sasConfirmed: false,
  peerName: null,
  peerOrg: null,
  ticket: null,
  capabilities: [],
  granted: [],
  grantDirections: {},
  controlRequest: null,
  pendingRequest: null,
  stepUp: null,
  controlLocked: false,
  controlLive: false,
  warnings: [],
  sharingPaused: false,
  display: null,
  hasVideo: false,
  chat: [],
  extensionOffer: null,
  extensionRequest: null,
  notice: null,
  revokedDuring: [],
  transfers: [],
  clipboard: { received: null, sent: 0, note: null, image: null, images: false },
  ended: null,
  present: [],
  watchersNeeded: 0,
  control: null,
  notes: [],
};
const initialStaff: StaffSlice['staff'] = { account: null, signingIn: false, error: null, session: null, code: null, busy: false, firstSignIn: null, sso: null };
const initialApprovals: ApprovalsSlice['approvals'] = { pending: [], extensions: [], active: [], error: null, message: null, loaded: false };
const initialWatch: WatchSlice['watch'] = { rows: [], loaded: false, error: null, current: null };

const createAppSlice: Slice<AppSlice> = (set) => ({
  ...initialApp,
  setRoute: (route) => set({ route }),
  setPolicy: (policy) => set({ policy }),
  setBranding: (branding) => set({ branding }),
  learnBrokerTime: (brokerNow, localNow) =>
    set((s) => {
      const offset = brokerNow - localNow;
      // Fail closed: a broker ahead of us shortens the session here; one behind never lengthens it.
      return offset > s.clockOffsetMs + 1000 ? { clockOffsetMs: offset } : {};
    }),
  bump: () => set((s) => ({ tick: s.tick + 1 })),
});

const createJoinSlice: Slice<JoinSlice> = (set) => ({
  join: initialJoin,
  setJoin: (patch) => set((s) => ({ join: { ...s.join, ...patch } })),
});

const createLiveSlice: Slice<LiveSlice> = (set) => ({
  live: initialLive,
  setLive: (patch) => set((s) => ({ live: { ...s.live, ...patch } })),
  beginLive: (patch) => set({ live: { ...initialLive, ...patch } }),
  addChat: (line) => set((s) => ({ live: { ...s.live, chat: [...s.live.chat, line].slice(-200) } })),
  setGrant: (capability, granted, by = 'broker', direction = null) =>
    set((s) => {
      const had = s.live.granted.includes(capability);
      const rest = s.live.granted.filter((c) => c !== capability);
      const revokedDuring = had && !granted ? [...s.live.revokedDuring, { kind: capability, by }] : s.live.revokedDuring;
      const { [capability]: _gone, ...others } = s.live.grantDirections;
      const grantDirections = granted && direction ? { ...others, [capability]: direction } : others;
      // Control taken back: the next grant waits for the end user's computer to say it is live again.
      const controlLive = capability === 'control' && !granted ? false : s.live.controlLive;
      return { live: { ...s.live, granted: granted ? [...rest, capability] : rest, grantDirections, revokedDuring, controlLive } };
    }),
  setTransfer: (t) => set((s) => ({ live: { ...s.live, transfers: upsertTransfer(s.live.transfers, t) } })),
});

function upsertTransfer(list: TransferView[], t: TransferView): TransferView[] {
  const rest = list.filter((x) => x.id !== t.id || x.way !== t.way);
  const i = list.findIndex((x) => x.id === t.id && x.way === t.way);
  const next = i >= 0 ? [...list.slice(0, i), t, ...list.slice(i + 1)] : [...rest, t];
  return next.slice(-5);
}

const createStaffSlice: Slice<StaffSlice> = (set) => ({
  staff: initialStaff,
  setStaff: (patch) => set((s) => ({ staff: { ...s.staff, ...patch } })),
});

const createApprovalsSlice: Slice<ApprovalsSlice> = (set) => ({
  approvals: initialApprovals,
  setApprovals: (patch) => set((s) => ({ approvals: { ...s.approvals, ...patch } })),
});

const createWatchSlice: Slice<WatchSlice> = (set) => ({
  watch: initialWatch,
  setWatch: (patch) => set((s) => ({ watch: { ...s.watch, ...patch } })),
  setWatching: (patch) => set((s) => (s.watch.current ? { watch: { ...s.watch, current: { ...s.watch.current, ...patch } } } : {})),
});

export const useAppStore = create<AppState>()((...a) => ({
  ...createAppSlice(...a),
  ...createJoinSlice(...a),
  ...createLiveSlice(...a),
  ...createStaffSlice(...a),
  ...createApprovalsSlice(...a),
  ...createWatchSlice(...a),
}));

/** Everything back to the start (tests, and after an end screen's "Done"). */
export function resetStore(keep: { policy?: boolean; route?: boolean; account?: boolean } = {}): void {
  const s = useAppStore.getState();
  useAppStore.setState({
    ...initialApp,
    policy: keep.policy ? s.policy : null,
    // The same broker names the organisation the same way: kept with the policy that points at it.
    branding: keep.policy ? s.branding : null,
    route: keep.route ? s.route : 'join',
    join: initialJoin,
    live: initialLive,
    staff: keep.account ? { ...initialStaff, account: s.staff.account } : initialStaff,
    approvals: initialApprovals,
    watch: initialWatch,
  });
}

/** Broker time as this client best knows it. */
export function brokerNow(): number {
  return Date.now() + useAppStore.getState().clockOffsetMs;
}

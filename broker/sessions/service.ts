import type { GrantableCapability } from '../../common/capabilities.js';
import type { ControlRefusal } from '../../common/control/refusals.js';
import type { CodeResult, ConsentResult, PendingExtension, RedeemResult } from '../../common/protocol/responses.js';
import type { SessionRole } from '../../common/roles.js';
import type { EndReason, SessionState } from '../../common/session-state.js';
import type { AuditMeta } from '../../common/audit-chain.js';
import type { AuditLog } from '../audit/log.js';
import type { Account, SignedInAccount } from '../auth/account.js';
import type { TokenService } from '../auth/tokens.js';
import type { Clock } from '../clock.js';
import type { BrokerConfig } from '../config.js';
import type { Storage } from '../storage/db.js';
import type { LimitStore } from '../storage/limits.js';
import { chunkObjectName, type RecordingStore } from '../storage/recording-store.js';
import type { KeyRing } from '../keys.js';
import type { ChunkAck } from '../../common/recording.js';
import { acceptChunk, type ChunkUpload } from './recording.js';
import { acceptTranscriptBatch } from './transcript.js';
import type { TranscriptBatch } from '../../common/recording.js';
import { finaliseCutRecordings } from './recording-finalise.js';
import { sweepRecordings } from './recording-retention.js';
import { consent } from './consent.js';
import type { Row, SessionCore } from './core.js';
import { endByAnalyst, endForAccount, endSession, kill, ticketClosed } from './ending.js';
import { AccountWatch } from './account-watch.js';
import type { PostSessionHooks, SessionEvents } from './events.js';
import { approveExtension, requestExtension, respondExtension } from './extensions.js';
import { dropPendingGrants, requestGrant, respondGrant, revokeGrant } from './grants.js';
import type { GrantDirection } from '../../common/grant-direction.js';
import { recordTeardownReport, type TeardownReport } from './teardown.js';
import { issueCode, redeem } from './join.js';
import { reissueCode } from './reissue.js';
import { clearTimers, type LiveSession } from './live.js';
import { history } from './history.js';
import type { HistoryFilters, HistoryPage } from '../../common/protocol/history.js';
import { list, listFor, pendingExtensions, readRow, view, viewFor } from './queries.js';
import { approve, reject, request, type SessionRequest } from './request-approval.js';
import { resumeAfterRestart } from './restart.js';
import type { TimerPlacement } from './placement.js';
import { armOwned, disarm, dropCopy, refreshFromRow } from './replicas.js';
import { analystToken, checkSessionToken } from './session-tokens.js';
import { StateWatch } from './state-watch.js';
import { endUserActor, type Actor, type IssuedSessionToken, type SessionView } from './types.js';
import type { ControlState, LiveSessionRow, PresenceEntry } from '../../common/protocol/watch.js';
import type { END_USER_STOP_REASONS } from '../../common/protocol/api.js';

type EndUserStopReason = (typeof END_USER_STOP_REASONS)[number];
import {
  controlStateOf,
  currentWatch,
  endByWatcher,
  issueWatchTicket,
  joinWatch,
  forgetWatchersAtStart,
  leaveWatch,
  liveList,
  reloadWatch,
  sweepLapsedWatchers,
  watchersNoLongerAllowed,
  watchersSeen,
  noteToAnalyst,
  presenceOf,
  resumeControl,
  suspendControl,
  watchersNeeded,
  watchPort,
  type LeaveWhy,
  type Watcher,
} from './watchers.js';

/**
 * The session lifecycle, one door for its callers (routes, the signaling hub, the composition
 * root, tests). It holds the state the parts share (SessionCore: the sessions that have not
 * ended, whom to tell, the shared counters) and hands each call to the file that owns that
 * part of the lifecycle: request-approval, join, consent, session-tokens, grants, extensions,
 * ending, timers and restart, over moves (the one conditional state change) and queries (the read
 * side). Kept as a facade so callers depend on one type and the parts stay free to move.
 */
export class SessionService {
  private readonly core: SessionCore;
  private readonly watch: AccountWatch;
  private retention: NodeJS.Timeout | null = null;

  constructor(cfg: BrokerConfig, storage: Storage, audit: AuditLog, tokens: TokenService, clock: Clock, hooks: PostSessionHooks, limits: LimitStore, recordings: RecordingStore, keys: KeyRing) {
    this.core = { cfg, db: storage.db, engine: storage.engine, audit, tokens, clock, hooks, limits, live: new Map(), events: null, placement: null, recordings, keys, stateWatch: new StateWatch(), ending: new Set(), watch: watchPort(() => this.core) };
    this.watch = new AccountWatch(this.core);
  }

  /** Sessions that have not ended, by id. */
  get live(): Map<string, LiveSession> {
    return this.core.live;
  }

  /** Every state change of every session, as it happens here (broker/routes/session-events.ts). */
  get stateWatch(): StateWatch {
    return this.core.stateWatch;
  }

  setEvents(e: SessionEvents): void {
    this.core.events = e;
  }

  // ---------- cluster mode (replicas.ts)

  setPlacement(p: TimerPlacement): void {
    this.core.placement = p;
  }
  /** This instance's copy brought in line with the stored row (null: the session has ended). */
  async refresh(id: string): Promise<LiveSession | null> {
    return (await refreshFromRow(this.core, id))?.live ?? null;
  }
  armOwned(id: string, takeover: boolean): Promise<void> {
    return armOwned(this.core, id, takeover);
  }
  disarm(id: string): void {
    disarm(this.core, id);
  }
  endedElsewhere(id: string, reason: EndReason): void {
    dropCopy(this.core, id, reason);
  }
  /** Sessions that have not ended, from the store (what an instance looks for leases to take over). */
  async notEnded(): Promise<string[]> {
    return (await this.core.db.selectFrom('sessions').select('id').where('state', '!=', 'ended').execute()).map((r) => r.id);
  }

  // ---------- reading

  row(id: string): Promise<Row> {
    return readRow(this.core, id);
  }
  view(id: string): Promise<SessionView> {
    return view(this.core, id);
  }
  list(filter: { analystId?: string; state?: SessionState; limit: number }): Promise<SessionView[]> {
    return list(this.core, filter);
  }
  listFor(account: Account, filter: { state?: SessionState | undefined; limit: number }): Promise<SessionView[]> {
    return listFor(this.core, account, filter);
  }
  viewFor(account: Account, id: string): Promise<SessionView> {
    return viewFor(this.core, account, id);
  }
  pendingExtensions(): Promise<PendingExtension[]> {
    return pendingExtensions(this.core);
  }
  /** Session history, scoped by the account: an analyst's own, everyone's for approvers, admins and auditors. */
  history(account: Account, filters: HistoryFilters): Promise<HistoryPage> {
    return history(this.core, account, filters);
  }

  // ---------- request and approval

  request(analyst: SignedInAccount, input: SessionRequest, source: string | null): Promise<SessionView> {
    return request(this.core, analyst, input, source);
  }
  approve(approver: Account, id: string, source: string | null): Promise<SessionView> {
    return approve(this.core, approver, id, source);
  }
  reject(approver: Account, id: string, reason: string, source: string | null): Promise<SessionView> {
    return reject(this.core, approver, id, reason, source);
  }

  // ---------- join, consent, tokens

  issueCode(analyst: Account, id: string, source: string | null): Promise<CodeResult> {
    return issueCode(this.core, analyst, id, source);
  }
  reissueCode(analyst: SignedInAccount, id: string, source: string | null): Promise<{ session: SessionView; code: CodeResult }> {
    return reissueCode(this.core, analyst, id, source);
  }
  redeem(rawCode: string, device: { jkt: string }, source: string | null): Promise<RedeemResult> {
    return redeem(this.core, rawCode, device, source);
  }
  consent(sessionId: string, receipt: string, device: { jkt: string }, source: string | null): Promise<ConsentResult> {
    return consent(this.core, sessionId, receipt, device, source);
  }
  analystToken(analyst: Account, deviceJkt: string, id: string, source: string | null): Promise<IssuedSessionToken> {
    return analystToken(this.core, analyst, deviceJkt, id, source);
  }
  checkSessionToken(jti: string, sid: string): Promise<LiveSession | null> {
    return checkSessionToken(this.core, jti, sid);
  }

  // ---------- ending

  end(id: string, reason: EndReason, actor: Actor, patch: Partial<Row> = {}, meta: AuditMeta = {}, read?: Row): Promise<Row> {
    return endSession(this.core, id, reason, actor, patch, meta, read);
  }
  /** The end user's client ends its own session over HTTP (no signaling yet, or none now). */
  stopByEndUser(jkt: string, id: string, reason: EndUserStopReason, source: string | null): Promise<Row> {
    return endSession(this.core, id, reason, endUserActor(jkt, source));
  }
  endByAnalyst(analyst: Account, id: string, source: string | null): Promise<SessionView> {
    return endByAnalyst(this.core, analyst, id, source);
  }
  kill(by: Account, id: string, source: string | null, reason?: string): Promise<SessionView> {
    return kill(this.core, by, id, source, reason);
  }
  ticketClosed(ref: string, actor: Actor): Promise<string[]> {
    return ticketClosed(this.core, ref, actor);
  }
  /** The analyst's account stopped counting (disabled, a role removed, a new password): every session of theirs ends. */
  endForAccount(accountId: string, why: string, by: string): Promise<string[]> {
    return endForAccount(this.core, accountId, why, by);
  }

  // ---------- grants inside an active session

  requestGrant(live: LiveSession, requestId: string, capability: GrantableCapability, actor: Actor, direction?: GrantDirection): Promise<void> {
    return requestGrant(this.core, live, requestId, capability, actor, direction);
  }
  respondGrant(live: LiveSession, requestId: string, capability: GrantableCapability, allow: boolean, actor: Actor, reason?: ControlRefusal, direction?: GrantDirection): Promise<void> {
    return respondGrant(this.core, live, requestId, capability, allow, actor, reason, direction);
  }
  revokeGrant(live: LiveSession, capability: GrantableCapability, by: SessionRole, actor: Actor): Promise<void> {
    return revokeGrant(this.core, live, capability, by, actor);
  }
  /** The end user's signed teardown report, on signaling or over HTTP (teardown.ts). */
  teardownReport(sessionId: string, report: TeardownReport, device: { jkt: string }, source: string | null): Promise<void> {
    return recordTeardownReport(this.core, sessionId, report, device, source);
  }

  // ---------- extensions

  requestExtension(live: LiveSession, minutes: number, actor: Actor): Promise<void> {
    return requestExtension(this.core, live, minutes, actor);
  }
  approveExtension(approver: Account, sessionId: string, extensionId: string, approve: boolean, source: string | null, reason: string | null = null): Promise<void> {
    return approveExtension(this.core, approver, sessionId, extensionId, approve, source, reason);
  }
  respondExtension(live: LiveSession, extensionId: string, accept: boolean, receipt: string | undefined, actor: Actor): Promise<void> {
    return respondExtension(this.core, live, extensionId, accept, receipt, actor);
  }

  // ---------- recording

  /** One chunk of the end user's recording (recording.ts): checked, stored, chained, then acked. */
  acceptChunk(u: ChunkUpload): Promise<ChunkAck> {
    return acceptChunk(this.core, u);
  }

  /** One batch of the transcript from the end user's input gate (transcript.ts). */
  acceptTranscriptBatch(u: { sessionId: string; batch: TranscriptBatch; jti: string; jkt: string; source: string | null }): Promise<{ seq: number; sha256: string; entries: number }> {
    return acceptTranscriptBatch(this.core, u);
  }

  // ---------- watchers (watchers.ts)

  liveList(account: Account): Promise<LiveSessionRow[]> {
    return liveList(this.core, account);
  }
  issueWatchTicket(account: Account, id: string, deviceJkt: string, source: string | null): Promise<{ token: string; expires_at: number; url: string }> {
    return issueWatchTicket(this.core, account, id, deviceJkt, source);
  }
  joinWatch(t: { sid: string; username: string; jti: string; exp: number }, source: string | null): Promise<{ live: LiveSession; watcher: Watcher }> {
    return joinWatch(this.core, t, source);
  }
  /** `ended`: the session's copy when it has just ended (it is no longer among the live ones). */
  leaveWatch(sid: string, watcherId: string, why: LeaveWhy, source: string | null, ended?: LiveSession): Promise<void> {
    return leaveWatch(this.core, sid, watcherId, why, source, ended);
  }
  watchersSeen(ids: string[]): Promise<void> {
    return watchersSeen(this.core, ids);
  }
  watchersNoLongerAllowed(ids: string[]): Promise<string[]> {
    return watchersNoLongerAllowed(this.core, ids);
  }
  sweepLapsedWatchers(): Promise<void> {
    return sweepLapsedWatchers(this.core);
  }
  /** Cluster mode: another instance changed the watch state of this session; false if it is not live here. */
  async reloadWatch(sid: string): Promise<LiveSession | null> {
    const live = this.core.live.get(sid) ?? (await refreshFromRow(this.core, sid))?.live ?? null;
    return live && (await reloadWatch(this.core, live)) ? live : null;
  }
  /** Who is present, how many more watchers are needed, and the state of control, as everyone in the session is shown it. */
  async watchView(live: LiveSession): Promise<{ present: PresenceEntry[]; watchers_needed: number; control: ControlState }> {
    const w = await currentWatch(this.core, live);
    return { present: presenceOf(w), watchers_needed: watchersNeeded(w), control: controlStateOf(w) };
  }
  /** The same, from what is already loaded (null: not loaded here yet). */
  watchViewNow(live: LiveSession): { present: PresenceEntry[]; watchers_needed: number; control: ControlState } | null {
    const w = live.watch;
    return w ? { present: presenceOf(w), watchers_needed: watchersNeeded(w), control: controlStateOf(w) } : null;
  }
  suspendControl(account: Account, id: string, note: string | undefined, source: string | null): Promise<{ control: ControlState }> {
    return suspendControl(this.core, account, id, note, source);
  }
  resumeControl(account: Account, id: string, source: string | null): Promise<{ control: ControlState }> {
    return resumeControl(this.core, account, id, source);
  }
  noteToAnalyst(account: Account, id: string, text: string, source: string | null): Promise<{ sent_at: number; delivered: boolean }> {
    return noteToAnalyst(this.core, account, id, text, source);
  }
  endByWatcher(account: Account, id: string, reason: string | undefined, source: string | null): Promise<SessionView> {
    return endByWatcher(this.core, account, id, reason, source);
  }
  /** Recording chunks stored so far, in order (what a watcher joining late is sent first). */
  async storedChunks(id: string, fromSeq = 0): Promise<{ seq: number; sha256: string; bytes: number }[]> {
    return this.core.db.selectFrom('recording_chunks').select(['seq', 'sha256', 'bytes']).where('session_id', '=', id).where('seq', '>=', fromSeq).orderBy('seq').execute();
  }
  chunkBytes(id: string, seq: number, sha256: string): Promise<Buffer | null> {
    return this.core.recordings.get(id, chunkObjectName(seq, sha256));
  }
  /** Whether the session is being recorded now (a watcher gets a picture only then). */
  async isRecording(id: string): Promise<boolean> {
    const rec = await this.core.db.selectFrom('recordings').select('state').where('session_id', '=', id).executeTakeFirst();
    return rec?.state === 'recording';
  }

  // ---------- start and stop

  async resumeAfterRestart(): Promise<{ resumed: number; ended: number }> {
    await forgetWatchersAtStart(this.core);
    const r = await resumeAfterRestart(this.core);
    // Recordings whose session ended while this broker was down (a crash cut them) are signed now, saying so.
    await finaliseCutRecordings(this.core);
    await sweepRecordings(this.core);
    return r;
  }

  /** Applies recording retention and the quota every hour (recording-retention.ts). */
  startRetention(intervalMs = 3_600_000): void {
    this.retention = setInterval(() => void sweepRecordings(this.core).catch((e: unknown) => process.stderr.write(`recording retention: ${String(e)}\n`)), intervalMs);
    this.retention.unref();
  }
  /** Starts checking, every second, that the analysts of live sessions still count (changes made by another process). */
  startAccountWatch(intervalMs = 1000): void {
    this.watch.start(intervalMs);
  }
  /** Resolves once every session end under way here has finished (its manifest signed). */
  async drain(): Promise<void> {
    while (this.core.ending.size > 0) await Promise.allSettled([...this.core.ending]);
  }
  shutdown(): void {
    this.watch.stop();
    if (this.retention) clearInterval(this.retention);
    for (const l of this.core.live.values()) {
      clearTimers(l);
      l.recording?.stop();
      dropPendingGrants(l);
    }
  }
}

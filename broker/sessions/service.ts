import crypto from 'node:crypto';
import type { Selectable } from 'kysely';
import { CONSENT_CAPABILITIES, isGrantable, type Capability, type GrantableCapability } from '../../common/capabilities.js';
import { formatJoinCode, codeFromBytes, normalizeJoinCode } from '../../common/join-code.js';
import { missingCase } from '../../common/missing-case.js';
import { approvalNeeded } from '../../common/policy.js';
import type { SessionRole } from '../../common/roles.js';
import { checkTransition, type EndReason, type SessionState, type Transition } from '../../common/session-state.js';
import type { AuditLog } from '../audit/log.js';
import type { TokenService } from '../auth/tokens.js';
import { sha256b64url, verifyEmbeddedKeyJws } from '../auth/dpop.js';
import type { Clock } from '../clock.js';
import type { BrokerConfig } from '../config.js';
import { ApiError, badRequest, conflict, forbidden, notFound, tooMany } from '../http/errors.js';
import { WindowCounter, sourceKey } from '../rate-limit.js';
import type { Storage } from '../storage/db.js';
import type { SessionsTable } from '../storage/schema.js';
import { issueTurnCredentials } from '../turn.js';
import { clearTimers, type LiveSession } from './live.js';
import { SYSTEM, accountActor, endUserActor, type Account, type Actor, type GrantView, type SessionView } from './types.js';

type Row = Selectable<SessionsTable>;
type AuditMeta = Record<string, string | number | boolean | null | string[]>;

export interface SessionEvents {
  ended(s: LiveSession, reason: EndReason): void;
  activated(s: LiveSession): void;
  grantChanged(s: LiveSession, capability: GrantableCapability, granted: boolean, by: SessionRole | 'broker', requestId?: string): void;
  grantRequested(s: LiveSession, requestId: string, capability: GrantableCapability): void;
  extension(s: LiveSession, e: ExtensionEvent): void;
  tokensRenewed(s: LiveSession, tokens: Partial<Record<SessionRole, { token: string; expires_at: number }>>): void;
  expiryWarning(s: LiveSession, secondsLeft: number): void;
  hook(eventType: string, payload: Record<string, unknown>): void;
}

export interface ExtensionEvent {
  id: string;
  minutes: number;
  phase: 'awaiting_approval' | 'offer' | 'result';
  accepted?: boolean;
  newExpiresAt?: number;
  by?: 'approver' | 'end_user';
  /** The approver's reason for refusing. */
  reason?: string | null;
}

export interface IssuedSessionToken {
  token: string;
  expires_at: number;
  ice_servers: { urls: string[]; username?: string; credential?: string }[];
}

const hashCode = (code: string) => crypto.createHash('sha256').update(`chaperone-join-code:${code}`).digest('hex');

/**
 * The session lifecycle: every move goes through common/session-state's rule book, is applied to
 * the database only if the stored state is still the one it was decided on (so two racing
 * requests cannot both win), and is audited whether it succeeds or is refused.
 */
export class SessionService {
  readonly live = new Map<string, LiveSession>();
  private readonly joinFailuresBySource: WindowCounter;
  private readonly joinFailuresGlobal: WindowCounter;
  private events: SessionEvents | null = null;

  constructor(
    private readonly cfg: BrokerConfig,
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly tokens: TokenService,
    private readonly clock: Clock,
  ) {
    const w = cfg.rateLimits.join_failure_window_minutes * 60_000;
    this.joinFailuresBySource = new WindowCounter(cfg.rateLimits.join_failures_per_source, w);
    this.joinFailuresGlobal = new WindowCounter(cfg.rateLimits.join_failures_global, w);
  }

  setEvents(e: SessionEvents): void {
    this.events = e;
  }

  private now(): number {
    return this.clock.now();
  }

  private get db() {
    return this.storage.db;
  }

  private get policy() {
    return this.cfg.policy;
  }

  // ---------- reading ----------

  async row(id: string): Promise<Row> {
    const r = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('no such session');
    return r;
  }

  async view(id: string): Promise<SessionView> {
    return this.toView(await this.row(id));
  }

  async list(filter: { analystId?: string; state?: SessionState; limit: number }): Promise<SessionView[]> {
    let q = this.db.selectFrom('sessions').selectAll().orderBy('created_at', 'desc').limit(filter.limit);
    if (filter.analystId) q = q.where('analyst_id', '=', filter.analystId);
    if (filter.state) q = q.where('state', '=', filter.state);
    const rows = await q.execute();
    return Promise.all(rows.map((r) => this.toView(r)));
  }

  /**
   * `known` carries what the caller already holds (the analyst's or approver's own account, or
   * that a session just created has no grants), so a request is not answered with re-reads.
   */
  private async toView(r: Row, known: { accounts?: Account[]; noGrants?: boolean } = {}): Promise<SessionView> {
    const held = (id: string) => known.accounts?.find((a) => a.id === id);
    const analyst =
      held(r.analyst_id) ??
      (await this.db.selectFrom('accounts').select(['id', 'username', 'display_name', 'organisation', 'kind']).where('id', '=', r.analyst_id).executeTakeFirst());
    const approver = r.approver_id
      ? (held(r.approver_id) ?? (await this.db.selectFrom('accounts').select('username').where('id', '=', r.approver_id).executeTakeFirst()))
      : undefined;
    const grants = known.noGrants ? [] : await this.db.selectFrom('grants').selectAll().where('session_id', '=', r.id).orderBy('requested_at').execute();
    return {
      id: r.id,
      state: r.state as SessionState,
      end_reason: (r.end_reason as EndReason | null) ?? null,
      ticket: r.ticket_ref,
      reason: r.reason,
      capabilities: r.capabilities.split(',') as Capability[],
      duration_minutes: Math.round(r.duration_s / 60),
      analyst: {
        id: r.analyst_id,
        username: analyst?.username ?? '(deleted)',
        display_name: analyst?.display_name ?? '(deleted)',
        organisation: analyst?.organisation ?? '',
        kind: (analyst?.kind ?? 'internal') as Account['kind'],
      },
      approval: {
        required: r.approval_required === 1,
        why: r.approval_why,
        approver: approver?.username ?? null,
        approved_at: r.approved_at,
        deadline: r.approval_deadline,
        rejection_reason: r.decision_note,
      },
      code_expires_at: r.code_expires_at,
      offer_expires_at: r.offer_expires_at,
      activated_at: r.activated_at,
      expires_at: r.expires_at,
      hard_deadline: r.hard_deadline,
      created_at: r.created_at,
      ended_at: r.ended_at,
      grants: grants.map(
        (g): GrantView => ({
          capability: g.capability as Capability,
          state: g.state as GrantView['state'],
          requested_at: g.requested_at,
          decided_at: g.decided_at,
          revoked_at: g.revoked_at,
        }),
      ),
    };
  }

  // ---------- the lifecycle ----------

  async request(
    analyst: Account,
    input: { ticket: string; reason: string; capabilities: Capability[]; duration_minutes: number },
    source: string | null,
  ): Promise<SessionView> {
    const actor = accountActor(analyst, source);
    const caps = [...new Set<Capability>(['view', ...input.capabilities])];
    const refuse = async (code: string, message: string, status = 403) => {
      await this.audit.append({ type: 'session.request_refused', outcome: 'denied', ...actor, ticket: input.ticket, meta: { code, capabilities: caps } });
      throw new ApiError(status, code, message);
    };
    if (!analyst.roles.includes('analyst')) await refuse('forbidden', 'only analysts can request sessions');
    if (input.duration_minutes > this.policy.max_duration_minutes) {
      await refuse('duration_exceeds_policy', `policy allows at most ${this.policy.max_duration_minutes} minutes`, 400);
    }
    const ticket = await this.db.selectFrom('tickets').selectAll().where('ref', '=', input.ticket).executeTakeFirst();
    if (ticket?.status === 'closed') await refuse('ticket_closed', `ticket ${input.ticket} is closed`, 409);
    if (this.policy.require_open_ticket && !ticket) {
      await refuse('ticket_required', `policy requires an open ticket; ${input.ticket} is not known to the broker`, 409);
    }
    const decision = approvalNeeded(this.policy, analyst.kind, caps);
    const now = this.now();
    const id = crypto.randomUUID();
    const row: Row = {
      id,
      ticket_ref: input.ticket,
      reason: input.reason,
      analyst_id: analyst.id,
      capabilities: caps.join(','),
      duration_s: input.duration_minutes * 60,
      state: 'requested',
      end_reason: null,
      approval_required: decision.needed ? 1 : 0,
      approval_why: decision.why,
      approver_id: null,
      approved_at: null,
      approval_deadline: now + this.policy.approval_window_minutes * 60_000,
      code_hash: null,
      code_expires_at: null,
      end_user_jkt: null,
      offer_hash: null,
      offer_expires_at: null,
      activated_at: null,
      expires_at: null,
      hard_deadline: null,
      created_at: now,
      ended_at: null,
      version: 0,
      decision_note: null,
    };
    await this.db.insertInto('sessions').values(row).execute();
    this.audit.record({
      type: 'session.requested',
      outcome: 'success',
      ...actor,
      session_id: id,
      ticket: input.ticket,
      meta: { capabilities: caps, duration_minutes: input.duration_minutes, analyst_kind: analyst.kind, reason_length: input.reason.length },
    });
    const live = this.track(row, analyst.username);
    const moved = decision.needed
      ? await this.move(live, row, { to: 'awaiting_approval' }, SYSTEM, {}, { why: decision.why })
      : await this.move(live, row, { to: 'approved' }, SYSTEM, { approved_at: now }, { why: decision.why });
    this.scheduleTimers(live, moved);
    return this.toView(moved, { accounts: [analyst], noGrants: true });
  }

  async approve(approver: Account, id: string, source: string | null): Promise<SessionView> {
    const actor = accountActor(approver, source);
    const r = await this.row(id);
    if (!approver.roles.includes('approver')) await this.deny(actor, r, 'forbidden', 'only approvers can approve');
    if (r.analyst_id === approver.id) await this.deny(actor, r, 'self_approval', 'an approver cannot approve their own request');
    const live = this.mustLive(r);
    const now = this.now();
    const moved = await this.move(live, r, { to: 'approved' }, actor, {
      approver_id: approver.id,
      approved_at: now,
      approval_deadline: now + this.policy.approval_window_minutes * 60_000,
    });
    this.scheduleTimers(live, moved);
    return this.toView(moved, { accounts: [approver] });
  }

  async reject(approver: Account, id: string, reason: string, source: string | null): Promise<SessionView> {
    const actor = accountActor(approver, source);
    const r = await this.row(id);
    if (!approver.roles.includes('approver')) await this.deny(actor, r, 'forbidden', 'only approvers can reject');
    if (r.analyst_id === approver.id) await this.deny(actor, r, 'self_approval', 'an approver cannot decide their own request');
    if (r.state !== 'awaiting_approval') {
      await this.refuseTransition(actor, r, { to: 'ended', reason: 'rejected' });
    }
    const ended = await this.end(id, 'rejected', actor, { approver_id: approver.id, decision_note: reason }, { reason_length: reason.length }, r);
    return this.toView(ended, { accounts: [approver] });
  }

  async issueCode(analyst: Account, id: string, source: string | null): Promise<{ code: string; code_display: string; expires_at: number }> {
    const actor = accountActor(analyst, source);
    const r = await this.row(id);
    if (r.analyst_id !== analyst.id) await this.deny(actor, r, 'forbidden', 'only the requesting analyst can issue the join code');
    const now = this.now();
    if (r.state === 'approved' && r.approval_deadline !== null && r.approval_deadline <= now) {
      await this.end(id, 'expired', SYSTEM, {}, { why: 'approval lapsed before a code was issued' });
      throw conflict('the approval lapsed before a code was issued; request a new session', 'approval_lapsed');
    }
    const liveCodes = await this.db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '=', 'code_issued')
      .executeTakeFirstOrThrow();
    if (Number(liveCodes.n) >= this.cfg.rateLimits.max_live_codes) {
      await this.audit.append({ type: 'join.code_capacity', outcome: 'denied', ...actor, session_id: id, ticket: r.ticket_ref, meta: {} });
      throw new ApiError(503, 'too_many_live_codes', 'too many join codes are live; try again in a few minutes');
    }
    const code = codeFromBytes(crypto.randomBytes(16));
    const expiresAt = now + this.policy.code_ttl_minutes * 60_000;
    const live = this.mustLive(r);
    const moved = await this.move(live, r, { to: 'code_issued' }, actor, { code_hash: hashCode(code), code_expires_at: expiresAt });
    this.scheduleTimers(live, moved);
    return { code, code_display: formatJoinCode(code), expires_at: expiresAt };
  }

  /** The end user's client redeems a code with its device key and gets the signed consent offer. */
  async redeem(
    rawCode: string,
    device: { jkt: string },
    source: string | null,
  ): Promise<{ session_id: string; offer: string; offer_expires_at: number }> {
    const now = this.now();
    const src = source ?? 'unknown';
    const key = sourceKey(src);
    const actor = endUserActor(device.jkt, source);
    if (this.joinFailuresBySource.exceeded(key, now) || this.joinFailuresGlobal.exceeded('*', now)) {
      await this.audit.append({ type: 'join.rate_limited', outcome: 'denied', ...actor, meta: { scope: this.joinFailuresGlobal.exceeded('*', now) ? 'global' : 'source' } });
      throw tooMany('too many wrong join codes; wait a few minutes and check the code with your support contact');
    }
    const code = normalizeJoinCode(rawCode);
    const fail = async (why: string, sessionId: string | null = null): Promise<never> => {
      this.joinFailuresBySource.add(key, now);
      this.joinFailuresGlobal.add('*', now);
      await this.audit.append({ type: 'join.redeem_failed', outcome: 'failure', ...actor, session_id: sessionId, meta: { why } });
      throw new ApiError(404, 'invalid_code', 'this code is not valid: it may be mistyped, already used or expired');
    };
    if (!code) return fail('malformed');
    const r = await this.db.selectFrom('sessions').selectAll().where('code_hash', '=', hashCode(code)).executeTakeFirst();
    if (!r) return fail('unknown');
    if (r.state !== 'code_issued') return fail('already_used', r.id);
    if (r.code_expires_at !== null && r.code_expires_at <= now) {
      await this.end(r.id, 'code_expired', SYSTEM).catch(() => undefined);
      return fail('expired', r.id);
    }
    const analyst = await this.db.selectFrom('accounts').selectAll().where('id', '=', r.analyst_id).executeTakeFirstOrThrow();
    const offerExpiresAt = now + this.policy.offer_ttl_seconds * 1000;
    const caps = r.capabilities.split(',') as Capability[];
    const { token: offer } = await this.tokens.sign(
      'offer',
      {
        sid: r.id,
        sub: device.jkt,
        org: this.policy.organisation,
        analyst: { id: analyst.id, name: analyst.display_name, username: analyst.username, organisation: analyst.organisation, kind: analyst.kind },
        verification: { method: analyst.totp_secret ? 'password+totp' : 'password', mfa_at: analyst.mfa_at ? Math.floor(analyst.mfa_at / 1000) : null },
        ticket: r.ticket_ref,
        reason: r.reason,
        capabilities: caps,
        consent_covers: caps.filter((c) => CONSENT_CAPABILITIES.includes(c)),
        granted_later: caps.filter((c) => isGrantable(c)),
        duration_s: r.duration_s,
        cnf: { jkt: device.jkt },
      },
      offerExpiresAt,
    );
    const live = this.mustLive(r);
    // The conditional update is what makes two simultaneous redemptions of one code end with one winner.
    const won = await this.move(
      live,
      r,
      { to: 'pending_consent' },
      actor,
      { end_user_jkt: device.jkt, offer_hash: sha256b64url(offer), offer_expires_at: offerExpiresAt, code_hash: null },
      { device: device.jkt },
      false,
    );
    if (!won) return fail('lost_race', r.id);
    live.endUserJkt = device.jkt;
    this.scheduleTimers(live, won);
    return { session_id: r.id, offer, offer_expires_at: offerExpiresAt };
  }

  /** The end user's signed answer to the offer. Accepting grants view (and chat) only. */
  async consent(
    sessionId: string,
    receipt: string,
    device: { jkt: string },
    source: string | null,
  ): Promise<{ accepted: true; session: IssuedSessionToken } | { accepted: false }> {
    const actor = endUserActor(device.jkt, source);
    const r = await this.row(sessionId);
    if (r.end_user_jkt !== device.jkt) {
      await this.audit.append({ type: 'consent.refused', outcome: 'denied', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { why: 'not the redeeming device' } });
      throw forbidden('this device did not redeem the code for this session');
    }
    const claims = await this.verifyReceipt(receipt, device.jkt, r, actor, 'chaperone-consent+jwt');
    const accept = claims.decision === 'accept';
    if (!accept) {
      await this.end(r.id, 'declined', actor, {}, { receipt });
      return { accepted: false };
    }
    if (r.offer_expires_at !== null && r.offer_expires_at <= this.now()) {
      await this.end(r.id, 'expired', SYSTEM, {}, { why: 'offer expired before consent' }).catch(() => undefined);
      throw conflict('the offer expired before it was accepted', 'offer_expired');
    }
    const now = this.now();
    const expiresAt = now + r.duration_s * 1000;
    const hardDeadline = now + this.policy.hard_max_minutes * 60_000;
    const live = this.mustLive(r);
    const moved = await this.move(live, r, { to: 'active' }, actor, { activated_at: now, expires_at: expiresAt, hard_deadline: hardDeadline }, { receipt, accepted: claims.accepted_capabilities as string[] });
    live.expiresAt = expiresAt;
    live.hardDeadline = hardDeadline;
    this.scheduleTimers(live, moved);
    const session = await this.issueSessionToken(live, 'end_user', device.jkt, device.jkt);
    this.events?.activated(live);
    return { accepted: true, session };
  }

  private async verifyReceipt(
    receipt: string,
    jkt: string,
    r: Row,
    actor: Actor,
    typ: string,
    extra?: (p: Record<string, unknown>) => string | null,
  ): Promise<Record<string, unknown>> {
    const bad = async (why: string): Promise<never> => {
      await this.audit.append({ type: 'consent.receipt_rejected', outcome: 'denied', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { why } });
      throw badRequest(`consent receipt rejected: ${why}`, 'bad_receipt');
    };
    let payload: Record<string, unknown>;
    try {
      const v = verifyEmbeddedKeyJws(receipt, typ);
      if (v.jkt !== jkt) return bad('signed by another key');
      payload = v.payload;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      return bad('not a JWS signed by the device key, or of another type');
    }
    if (payload.sid !== r.id) return bad('made for another session');
    if (typeof payload.iat !== 'number' || Math.abs(payload.iat - this.now() / 1000) > 300) return bad('stale');
    if (payload.decision !== 'accept' && payload.decision !== 'decline') return bad('decision must be accept or decline');
    if (typ === 'chaperone-consent+jwt') {
      if (payload.offer_hash !== r.offer_hash) return bad('does not answer the offer this device received');
      // What the receipt says was accepted goes into the audit chain, so it must be exactly a list
      // of capabilities that consent can cover and that this session asked for: nothing else.
      const asked = r.capabilities.split(',');
      const acc = payload.accepted_capabilities;
      const valid =
        Array.isArray(acc) &&
        acc.length <= CONSENT_CAPABILITIES.length &&
        new Set(acc).size === acc.length &&
        acc.every((c) => typeof c === 'string' && CONSENT_CAPABILITIES.includes(c as Capability) && asked.includes(c));
      if (!valid) return bad('accepted_capabilities must list only capabilities consent covers for this session');
      if (payload.decision === 'accept' && !acc.includes('view')) return bad('accepting means accepting view');
    }
    const more = extra?.(payload);
    if (more) return bad(more);
    return payload;
  }

  async analystToken(analyst: Account, deviceJkt: string, id: string, source: string | null): Promise<IssuedSessionToken> {
    const r = await this.row(id);
    const actor = accountActor(analyst, source);
    if (r.analyst_id !== analyst.id) await this.deny(actor, r, 'forbidden', 'only the requesting analyst can join this session');
    if (r.state !== 'active') {
      await this.deny(actor, r, 'not_active', `the session is ${r.state}, not active`, 409);
    }
    return this.issueSessionToken(this.mustLive(r), 'analyst', analyst.id, deviceJkt);
  }

  private async issueSessionToken(live: LiveSession, role: SessionRole, sub: string, jkt: string): Promise<IssuedSessionToken> {
    const expiresAt = live.expiresAt!;
    const { token, jti } = await this.tokens.sign('session', { sid: live.id, role, sub, caps: live.capabilities, cnf: { jkt } }, expiresAt);
    await this.db.insertInto('session_tokens').values({ jti, session_id: live.id, role, jkt, expires_at: expiresAt, revoked_at: null }).execute();
    this.audit.record({ type: 'token.issued', outcome: 'success', actor: role === 'analyst' ? `account:${live.analystUsername}` : `end_user:${jkt.slice(0, 16)}`, source: null, session_id: live.id, ticket: live.ticket, meta: { role, jti, exp: Math.floor(expiresAt / 1000) } });
    return { token, expires_at: expiresAt, ice_servers: this.iceServers(live, role) };
  }

  private iceServers(live: LiveSession, role: SessionRole): IssuedSessionToken['ice_servers'] {
    if (!this.cfg.turn || live.expiresAt === null) return [];
    const c = issueTurnCredentials(this.cfg.turn, { sessionId: live.id, role, sessionExpiresAtMs: live.expiresAt, nowMs: this.now() });
    return [{ urls: c.urls, username: c.username, credential: c.credential }];
  }

  /** Checks a session token presented on signaling: not revoked, for a live active session. */
  async checkSessionToken(jti: string, sid: string): Promise<LiveSession | null> {
    const t = await this.db.selectFrom('session_tokens').selectAll().where('jti', '=', jti).executeTakeFirst();
    if (!t || t.revoked_at !== null || t.session_id !== sid) return null;
    const live = this.live.get(sid);
    return live && live.state === 'active' ? live : null;
  }

  async endByAnalyst(analyst: Account, id: string, source: string | null): Promise<SessionView> {
    const r = await this.row(id);
    const actor = accountActor(analyst, source);
    if (r.analyst_id !== analyst.id) await this.deny(actor, r, 'forbidden', 'only the requesting analyst can end this session');
    return this.toView(await this.end(id, 'completed', actor, {}, {}, r), { accounts: [analyst] });
  }

  /** The kill switch: admins end anything; approvers end what they approved. */
  async kill(by: Account, id: string, source: string | null): Promise<SessionView> {
    const r = await this.row(id);
    const actor = accountActor(by, source);
    const allowed = by.roles.includes('admin') || (by.roles.includes('approver') && r.approver_id === by.id);
    if (!allowed) await this.deny(actor, r, 'forbidden', 'only an admin, or the approver who approved it, can revoke a session');
    return this.toView(await this.end(id, 'revoked', actor, {}, { kill_switch: true }, r), { accounts: [by] });
  }

  async ticketClosed(ref: string, actor: Actor): Promise<string[]> {
    const rows = await this.db.selectFrom('sessions').select(['id']).where('ticket_ref', '=', ref).where('state', '!=', 'ended').execute();
    const ended: string[] = [];
    for (const { id } of rows) {
      try {
        await this.end(id, 'ticket_closed', actor);
        ended.push(id);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
      }
    }
    return ended;
  }

  /**
   * Ends a session with one reason: revokes its tokens and grants, tells the hub (which pushes the
   * end and closes both sockets), audits and fires the post-session hooks.
   */
  async end(
    id: string,
    reason: EndReason,
    actor: Actor,
    patch: Partial<Row> = {},
    meta: Record<string, string | number | boolean | null | string[]> = {},
    /** The row the caller just read, to save a re-read; the update is conditional on its version. */
    read?: Row,
  ): Promise<Row> {
    const r = read ?? (await this.row(id));
    const from = r.state as SessionState;
    const check = checkTransition(from, { to: 'ended', reason });
    if (!check.ok) await this.refuseTransition(actor, r, { to: 'ended', reason });
    const now = this.now();
    const endPatch = { ...patch, state: 'ended', end_reason: reason, ended_at: now, code_hash: null, version: r.version + 1 };
    const res = await this.db
      .updateTable('sessions')
      .set(endPatch)
      .where('id', '=', id)
      .where('version', '=', r.version)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) {
      const fresh = await this.row(id);
      await this.refuseTransition(actor, fresh, { to: 'ended', reason });
    }
    const live = this.live.get(id);
    if (live) {
      live.state = 'ended';
      clearTimers(live);
      this.live.delete(id);
      this.events?.ended(live, reason);
    }
    await this.db.updateTable('session_tokens').set({ revoked_at: now }).where('session_id', '=', id).where('revoked_at', 'is', null).execute();
    const open = await this.db.selectFrom('grants').select(['id', 'capability', 'state']).where('session_id', '=', id).where('state', 'in', ['granted', 'requested']).execute();
    if (open.length) {
      await this.db.updateTable('grants').set({ state: 'revoked', revoked_at: now, revoked_by: 'broker' }).where('session_id', '=', id).where('state', 'in', ['granted', 'requested']).execute();
    }
    const revokedGrants = open.filter((g) => g.state === 'granted').map((g) => g.capability);
    await this.audit.append({
      type: 'session.ended',
      outcome: 'success',
      ...actor,
      session_id: id,
      ticket: r.ticket_ref,
      meta: { ...meta, reason, from, revoked_grants: revokedGrants },
    });
    this.events?.hook('session.ended', {
      session_id: id,
      ticket: r.ticket_ref,
      reason,
      analyst_id: r.analyst_id,
      started_at: r.activated_at,
      ended_at: now,
      capabilities: r.capabilities.split(','),
      revoked_grants: revokedGrants,
    });
    return { ...r, ...endPatch };
  }

  // ---------- grants inside an active session ----------

  async requestGrant(live: LiveSession, requestId: string, capability: GrantableCapability, actor: Actor): Promise<void> {
    if (!live.capabilities.includes(capability)) {
      await this.audit.append({ type: 'grant.refused', outcome: 'denied', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, why: 'not approved for this session' } });
      throw forbidden(`${capability} was not approved for this session`, 'capability_not_approved');
    }
    if (live.granted.has(capability)) throw conflict(`${capability} is already granted`, 'already_granted');
    if (live.pendingGrants.size >= 4) throw conflict('too many grant requests are waiting for an answer', 'too_many_pending');
    const grantId = crypto.randomUUID();
    await this.db.insertInto('grants').values({ id: grantId, session_id: live.id, capability, state: 'requested', requested_at: this.now(), decided_at: null, revoked_at: null, revoked_by: null }).execute();
    live.pendingGrants.set(requestId, { capability, grantId });
    this.audit.record({ type: 'grant.requested', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, request_id: requestId } });
    this.events?.grantRequested(live, requestId, capability);
  }

  async respondGrant(live: LiveSession, requestId: string, allow: boolean, actor: Actor): Promise<void> {
    const p = live.pendingGrants.get(requestId);
    if (!p) throw conflict('no grant request with that id is waiting', 'unknown_request');
    live.pendingGrants.delete(requestId);
    await this.db.updateTable('grants').set({ state: allow ? 'granted' : 'denied', decided_at: this.now() }).where('id', '=', p.grantId).execute();
    if (allow) live.granted.add(p.capability);
    await this.audit.append({ type: allow ? 'grant.granted' : 'grant.denied', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability: p.capability, request_id: requestId } });
    this.events?.grantChanged(live, p.capability, allow, 'end_user', requestId);
  }

  async revokeGrant(live: LiveSession, capability: GrantableCapability, by: SessionRole, actor: Actor): Promise<void> {
    if (!live.granted.has(capability)) throw conflict(`${capability} is not granted`, 'not_granted');
    live.granted.delete(capability);
    await this.db.updateTable('grants').set({ state: 'revoked', revoked_at: this.now(), revoked_by: by }).where('session_id', '=', live.id).where('capability', '=', capability).where('state', '=', 'granted').execute();
    await this.audit.append({ type: 'grant.revoked', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { capability, by } });
    this.events?.grantChanged(live, capability, false, by);
  }

  /** Client-side teardown report: which local grants the client says it dropped. */
  async teardownReport(live: LiveSession | { id: string; ticket: string }, revoked: string[], actor: Actor): Promise<void> {
    await this.audit.append({ type: 'client.teardown_report', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { revoked } });
  }

  // ---------- extensions ----------

  async requestExtension(live: LiveSession, minutes: number, actor: Actor): Promise<void> {
    const r = await this.row(live.id);
    if (live.pendingExtension) throw conflict('an extension is already waiting', 'extension_pending');
    const base = Math.max(live.expiresAt ?? this.now(), this.now());
    if (base + minutes * 60_000 > (live.hardDeadline ?? 0)) {
      await this.audit.append({ type: 'extension.refused', outcome: 'denied', ...actor, session_id: live.id, ticket: live.ticket, meta: { minutes, why: 'beyond hard maximum' } });
      throw conflict(`the session cannot run past its hard maximum of ${this.policy.hard_max_minutes} minutes`, 'hard_max');
    }
    const id = crypto.randomUUID();
    const analyst = await this.db.selectFrom('accounts').select('kind').where('id', '=', r.analyst_id).executeTakeFirstOrThrow();
    const needs = approvalNeeded(this.policy, analyst.kind as Account['kind'], live.capabilities).needed;
    const state = needs ? 'awaiting_approval' : 'awaiting_consent';
    await this.db.insertInto('extensions').values({ id, session_id: live.id, minutes, state, requested_at: this.now(), approver_id: null, decided_at: null, decision_note: null }).execute();
    live.pendingExtension = { id, minutes, state };
    await this.audit.append({ type: 'extension.requested', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { minutes, extension_id: id, approval_required: needs } });
    if (needs) this.events?.extension(live, { id, minutes, phase: 'awaiting_approval' });
    else this.offerExtension(live);
  }

  private offerExtension(live: LiveSession): void {
    const e = live.pendingExtension!;
    e.state = 'awaiting_consent';
    e.deciding = false;
    const newExpiresAt = Math.max(live.expiresAt ?? this.now(), this.now()) + e.minutes * 60_000;
    this.events?.extension(live, { id: e.id, minutes: e.minutes, phase: 'offer', newExpiresAt });
  }

  async approveExtension(approver: Account, sessionId: string, extensionId: string, approve: boolean, source: string | null, reason: string | null = null): Promise<void> {
    const actor = accountActor(approver, source);
    const r = await this.row(sessionId);
    if (!approver.roles.includes('approver')) await this.deny(actor, r, 'forbidden', 'only approvers can decide extensions');
    if (r.analyst_id === approver.id) await this.deny(actor, r, 'self_approval', 'an approver cannot approve their own extension');
    const live = this.live.get(sessionId);
    const e = live?.pendingExtension;
    if (!live || !e || e.id !== extensionId || e.state !== 'awaiting_approval' || e.deciding) {
      throw conflict('no extension with that id is waiting for approval', 'no_pending_extension');
    }
    // Claimed before the first await, so two approvers deciding at once cannot both win.
    e.deciding = true;
    await this.db
      .updateTable('extensions')
      .set({ state: approve ? 'awaiting_consent' : 'rejected', approver_id: approver.id, decided_at: this.now(), decision_note: approve ? null : reason })
      .where('id', '=', extensionId)
      .where('state', '=', 'awaiting_approval')
      .execute();
    await this.audit.append({ type: approve ? 'extension.approved' : 'extension.rejected', outcome: 'success', ...actor, session_id: sessionId, ticket: r.ticket_ref, meta: { extension_id: extensionId, ...(approve ? {} : { reason_length: reason?.length ?? 0 }) } });
    if (approve) this.offerExtension(live);
    else {
      live.pendingExtension = null;
      this.events?.extension(live, { id: e.id, minutes: e.minutes, phase: 'result', accepted: false, by: 'approver', reason });
    }
  }

  async respondExtension(live: LiveSession, extensionId: string, accept: boolean, receipt: string | undefined, actor: Actor): Promise<void> {
    const e = live.pendingExtension;
    if (!e || e.id !== extensionId || e.state !== 'awaiting_consent' || e.deciding) throw conflict('no extension with that id is waiting for consent', 'no_pending_extension');
    // Claimed before the first await: two answers arriving together cannot both extend.
    e.deciding = true;
    let r: Row;
    try {
      r = await this.row(live.id);
      if (accept) {
        if (!receipt) throw badRequest('accepting an extension needs a signed consent receipt', 'bad_receipt');
        await this.verifyReceipt(receipt, live.endUserJkt!, r, actor, 'chaperone-extension+jwt', (p) => (p.extension_id === extensionId ? null : 'made for another extension'));
      }
    } catch (err) {
      // A refused answer leaves the question open for a proper one.
      e.deciding = false;
      throw err;
    }
    live.pendingExtension = null;
    const now = this.now();
    if (!accept) {
      await this.db.updateTable('extensions').set({ state: 'declined', decided_at: now }).where('id', '=', extensionId).execute();
      await this.audit.append({ type: 'extension.declined', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { extension_id: extensionId } });
      this.events?.extension(live, { id: e.id, minutes: e.minutes, phase: 'result', accepted: false, by: 'end_user' });
      return;
    }
    const newExpiresAt = Math.min(Math.max(live.expiresAt ?? now, now) + e.minutes * 60_000, live.hardDeadline ?? now);
    const moved = await this.db.updateTable('sessions').set({ expires_at: newExpiresAt, version: r.version + 1 }).where('id', '=', live.id).where('version', '=', r.version).where('state', '=', 'active').executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) {
      // The session ended (or changed) meanwhile: nothing is extended, no token is issued.
      await this.db.updateTable('extensions').set({ state: 'lapsed', decided_at: now }).where('id', '=', extensionId).execute();
      throw conflict('the session ended before the extension could be applied', 'session_ended');
    }
    await this.db.updateTable('extensions').set({ state: 'accepted', decided_at: now }).where('id', '=', extensionId).execute();
    live.expiresAt = newExpiresAt;
    await this.audit.append({ type: 'extension.accepted', outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { extension_id: extensionId, minutes: e.minutes, expires_at: newExpiresAt, receipt: receipt ?? null } });
    clearTimers(live);
    this.scheduleTimers(live, await this.row(live.id));
    // Tokens carry exp no later than the session end, so a longer session needs fresh tokens.
    const tokens: Partial<Record<SessionRole, { token: string; expires_at: number }>> = {};
    const current = await this.db.selectFrom('session_tokens').selectAll().where('session_id', '=', live.id).where('revoked_at', 'is', null).execute();
    for (const role of ['analyst', 'end_user'] as const) {
      const t = current.filter((c) => c.role === role).pop();
      if (!t) continue;
      const issued = await this.issueSessionToken(live, role, role === 'analyst' ? live.analystId : t.jkt, t.jkt);
      tokens[role] = { token: issued.token, expires_at: issued.expires_at };
    }
    this.events?.extension(live, { id: e.id, minutes: e.minutes, phase: 'result', accepted: true, newExpiresAt, by: 'end_user' });
    this.events?.tokensRenewed(live, tokens);
  }

  // ---------- moves, refusals, timers ----------

  /**
   * Applies a forward move from the row `r` was read as, only if the stored row is still that
   * version, and returns the row as it now stands. Returns null when another request changed the
   * session first (and, unless told otherwise, throws 409 after auditing).
   */
  private async move(live: LiveSession, r: Row, t: Transition, actor: Actor, patch: Partial<Row>, meta?: AuditMeta, throwOnLost?: true): Promise<Row>;
  private async move(live: LiveSession, r: Row, t: Transition, actor: Actor, patch: Partial<Row>, meta: AuditMeta, throwOnLost: false): Promise<Row | null>;
  private async move(live: LiveSession, r: Row, t: Transition, actor: Actor, patch: Partial<Row>, meta: AuditMeta = {}, throwOnLost = true): Promise<Row | null> {
    const from = r.state as SessionState;
    const check = checkTransition(from, t);
    if (!check.ok) await this.refuseTransition(actor, r, t);
    const next = { ...patch, state: t.to, version: r.version + 1 };
    const res = await this.db.updateTable('sessions').set(next).where('id', '=', live.id).where('version', '=', r.version).executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) {
      if (!throwOnLost) return null;
      const fresh = await this.row(live.id);
      await this.refuseTransition(actor, fresh, t);
    }
    live.state = t.to;
    await this.audit.append({ type: `session.${t.to}`, outcome: 'success', ...actor, session_id: live.id, ticket: live.ticket, meta: { ...meta, from } });
    return { ...r, ...next };
  }

  private async refuseTransition(actor: Actor, r: Pick<Row, 'id' | 'ticket_ref' | 'state'>, t: Transition): Promise<never> {
    const target = t.to === 'ended' ? `ended(${t.reason})` : t.to;
    await this.audit.append({ type: 'session.transition_refused', outcome: 'denied', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { from: r.state, to: target } });
    throw conflict(`the session is ${r.state}; it cannot move to ${target}`, 'illegal_transition');
  }

  private async deny(actor: Actor, r: Row, code: string, message: string, status = 403): Promise<never> {
    await this.audit.append({ type: 'session.action_denied', outcome: 'denied', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { code } });
    throw new ApiError(status, code, message);
  }

  private mustLive(r: Row): LiveSession {
    const live = this.live.get(r.id);
    if (live) return live;
    if (r.state === 'ended') throw conflict('the session has ended', 'illegal_transition');
    return this.track(r, '');
  }

  private track(r: Row, analystUsername: string): LiveSession {
    const live: LiveSession = {
      id: r.id,
      state: r.state as SessionState,
      ticket: r.ticket_ref,
      analystId: r.analyst_id,
      analystUsername,
      capabilities: r.capabilities.split(',') as Capability[],
      endUserJkt: r.end_user_jkt,
      expiresAt: r.expires_at,
      hardDeadline: r.hard_deadline,
      granted: new Set(),
      pendingGrants: new Map(),
      pendingExtension: null,
      timers: [],
    };
    this.live.set(r.id, live);
    return live;
  }

  private at(live: LiveSession, when: number, fn: () => unknown): void {
    const cancel = this.clock.at(when, () => {
      Promise.resolve(fn()).catch((err: unknown) => {
        if (!(err instanceof ApiError)) process.stderr.write(`session timer failed: ${String(err)}\n`);
      });
    });
    live.timers.push(cancel);
  }

  /** Deadlines that end a session by themselves; decided from stored times, so a restart keeps them. */
  private scheduleTimers(live: LiveSession, r: Row): void {
    clearTimers(live);
    const state = r.state as SessionState;
    switch (state) {
      case 'requested':
      case 'awaiting_approval':
      case 'approved':
        if (r.approval_deadline !== null) this.at(live, r.approval_deadline, () => this.end(r.id, 'expired', SYSTEM, {}, { why: 'approval window lapsed' }));
        break;
      case 'code_issued':
        if (r.code_expires_at !== null) this.at(live, r.code_expires_at, () => this.end(r.id, 'code_expired', SYSTEM));
        break;
      case 'pending_consent':
        if (r.offer_expires_at !== null) this.at(live, r.offer_expires_at, () => this.end(r.id, 'expired', SYSTEM, {}, { why: 'offer not answered in time' }));
        break;
      case 'active': {
        const exp = r.expires_at!;
        this.at(live, exp, () => this.end(r.id, 'expired', SYSTEM));
        for (const s of [300, 60]) {
          if (exp - s * 1000 > this.now()) this.at(live, exp - s * 1000, () => this.events?.expiryWarning(live, s));
        }
        break;
      }
      case 'ended':
        break;
      default:
        missingCase(state);
    }
  }

  /**
   * After a restart: reload every session that had not ended. Anything past its deadline ends now;
   * an active one resumes within its original expiry. Grant requests that were waiting for an
   * answer are dropped, so no grant appears without the end user's click.
   */
  async resumeAfterRestart(): Promise<{ resumed: number; ended: number }> {
    const rows = await this.db.selectFrom('sessions').selectAll().where('state', '!=', 'ended').execute();
    let ended = 0;
    const now = this.now();
    await this.db.updateTable('grants').set({ state: 'denied', decided_at: now }).where('state', '=', 'requested').execute();
    // A request for more time lived in memory with its session; after a restart nobody can decide
    // it, so it lapses (and leaves the approvers' list). The analyst may ask again.
    await this.db.updateTable('extensions').set({ state: 'lapsed', decided_at: now }).where('state', 'in', ['awaiting_approval', 'awaiting_consent']).execute();
    for (const r of rows) {
      const analyst = await this.db.selectFrom('accounts').select('username').where('id', '=', r.analyst_id).executeTakeFirst();
      const live = this.track(r, analyst?.username ?? '');
      if (r.state === 'active') {
        const grants = await this.db.selectFrom('grants').select('capability').where('session_id', '=', r.id).where('state', '=', 'granted').execute();
        for (const g of grants) if (isGrantable(g.capability as Capability)) live.granted.add(g.capability as GrantableCapability);
      }
      const overdue = this.overdueReason(r, now);
      if (overdue) {
        await this.end(r.id, overdue, SYSTEM, {}, { why: 'deadline passed while the broker was down' }).catch(() => undefined);
        ended++;
      } else {
        this.scheduleTimers(live, r);
      }
    }
    await this.audit.append({ type: 'broker.resumed', outcome: 'success', actor: 'system', meta: { resumed: rows.length - ended, ended } });
    return { resumed: rows.length - ended, ended };
  }

  private overdueReason(r: Row, now: number): EndReason | null {
    const state = r.state as SessionState;
    switch (state) {
      case 'requested':
      case 'awaiting_approval':
      case 'approved':
        return r.approval_deadline !== null && r.approval_deadline <= now ? 'expired' : null;
      case 'code_issued':
        return r.code_expires_at !== null && r.code_expires_at <= now ? 'code_expired' : null;
      case 'pending_consent':
        return r.offer_expires_at !== null && r.offer_expires_at <= now ? 'expired' : null;
      case 'active':
        return r.expires_at !== null && r.expires_at <= now ? 'expired' : null;
      case 'ended':
        return null;
      default:
        return missingCase(state);
    }
  }

  shutdown(): void {
    for (const l of this.live.values()) clearTimers(l);
  }
}


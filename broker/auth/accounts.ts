import crypto from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { MAX_NAME_CHARS } from '../../common/protocol/limits.js';
import { passwordProblems, ruleText } from '../../common/password-rules.js';
import { UNSAFE_TEXT_MESSAGE, isSafeText } from '../../common/protocol/text.js';
import { ANALYST_KINDS, ROLES, type AnalystKind, type Role } from '../../common/roles.js';
import type { AuditLog } from '../audit/log.js';
import type { BrokerConfig } from '../config.js';
import type { CreatedAccount, LoginResult } from '../../common/protocol/responses.js';
import { DomainError, badRequest, conflict, forbidden, notFound, rateLimited, unauthorized } from '../domain-errors.js';
import type { Storage } from '../storage/db.js';
import { prepared } from '../storage/prepared.js';
import type { AccountsTable } from '../storage/schema.js';
import type { Account, SignedInAccount } from './account.js';
import { DUMMY_HASH_PROMISE, generateOneTimePassword, hashPassword, verifyPassword } from './passwords.js';
import { sourceRefusalKey } from '../rate-limit.js';
import { SecretBox } from '../secret-box.js';
import type { TokenService } from './tokens.js';
import { generateTotpSecret, otpauthUri, verifyTotp } from './totp.js';

type Row = Selectable<AccountsTable>;

export function toAccount(r: Row): Account {
  return {
    id: r.id,
    username: r.username,
    display_name: r.display_name,
    organisation: r.organisation,
    kind: r.kind as AnalystKind,
    roles: r.roles.split(',').filter(Boolean) as Role[],
    mfa_at: r.mfa_at,
    sso_issuer: r.sso_issuer ?? null,
  };
}

export interface NewAccount {
  username: string;
  display_name: string;
  organisation: string;
  kind: AnalystKind;
  roles: Role[];
  totp?: boolean;
}

const LOCK_MS = 15 * 60_000;
const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

/** Why an account's tokens stopped working: what its live sessions are ended for. */
export type RevocationWhy = 'disabled' | 'roles_removed' | 'password_reset' | 'password_changed';

/** Told when an account's tokens stop working, so its live sessions end at once (broker/broker.ts). */
export type RevocationListener = (accountId: string, why: RevocationWhy, actor: string) => Promise<void>;

/** What an access token is checked against on every use, besides its signature. */
const accountForAccess = prepared<{ sub: string; fam: string }, Row & { family_revoked: unknown }>((db, p) =>
  db
    .selectFrom('accounts')
    .selectAll()
    .select((eb) => eb.exists(eb.selectFrom('refresh_tokens').select('id').where('family_id', '=', p('fam')).where('revoked_at', 'is not', null)).as('family_revoked'))
    .where('id', '=', p('sub')),
);

const upsertDevice = prepared<{ jkt: string; jwk: string; now: number }, never>((db, p) =>
  db
    .insertInto('devices')
    .values({ jkt: p('jkt'), jwk: p('jwk'), first_seen: p('now'), last_seen: p('now') })
    .onConflict((oc) => oc.column('jkt').doUpdateSet({ last_seen: p('now') })),
);

export type AccessCheck = { ok: true; account: SignedInAccount } | { ok: false; code: 'account_disabled' | 'token_revoked' };

export class AccountService {
  constructor(
    private readonly cfg: BrokerConfig,
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly tokens: TokenService,
    private readonly now: () => number,
    /** Seals TOTP secrets at rest (the key beside the signing keys). */
    readonly secrets: SecretBox,
  ) {}

  static totpContext(accountId: string): string {
    return `chaperone-totp:${accountId}`;
  }

  /**
   * Seals the TOTP secrets an older broker stored in clear; returns how many. Run at start, before
   * anyone signs in.
   */
  async sealClearTotpSecrets(): Promise<number> {
    const rows = await this.db.selectFrom('accounts').select(['id', 'totp_secret']).where('totp_secret', 'is not', null).execute();
    let n = 0;
    for (const r of rows) {
      if (r.totp_secret === null || SecretBox.isSealed(r.totp_secret)) continue;
      const sealed = this.secrets.seal(r.totp_secret, AccountService.totpContext(r.id));
      await this.db.updateTable('accounts').set({ totp_secret: sealed }).where('id', '=', r.id).where('totp_secret', '=', r.totp_secret).execute();
      n++;
    }
    return n;
  }

  private revoked: RevocationListener | null = null;

  /** The composition root wires this to the session service; a CLI process has none (the broker's watch catches up). */
  onRevoked(l: RevocationListener): void {
    this.revoked = l;
  }

  private get db() {
    return this.storage.db;
  }

  /**
   * Moves the account's token epoch on (with whatever else changes in the same statement), so
   * every access, refresh and session token it holds is refused at its next use, then revokes its
   * refresh tokens and ends its live sessions.
   */
  async revokeAccess(id: string, why: RevocationWhy, actor: string, patch: Partial<Row> = {}): Promise<void> {
    await this.db
      .updateTable('accounts')
      .set((eb) => ({ ...patch, token_epoch: eb('token_epoch', '+', 1) }))
      .where('id', '=', id)
      .execute();
    await this.db.updateTable('refresh_tokens').set({ revoked_at: this.now() }).where('account_id', '=', id).where('revoked_at', 'is', null).execute();
    await this.revoked?.(id, why, actor);
  }

  mfaRequired(roles: Role[]): boolean {
    return roles.some((r) => this.cfg.policy.mfa_required_roles.includes(r));
  }

  async create(n: NewAccount, actor: string): Promise<CreatedAccount> {
    if (!/^[a-z0-9][a-z0-9._-]{1,62}$/.test(n.username)) throw badRequest('username: 2-63 characters, lower-case letters, digits, dot, dash, underscore');
    if (n.roles.length === 0 || n.roles.some((r) => !ROLES.includes(r))) throw badRequest(`roles must be some of ${ROLES.join(', ')}`);
    if (!ANALYST_KINDS.includes(n.kind)) throw badRequest(`kind must be one of ${ANALYST_KINDS.join(', ')}`);
    // The same text rules as the API's schema, for every way in (the command line, the first run).
    for (const [field, value] of [['display name', n.display_name], ['organisation', n.organisation]] as const) {
      if (value.length < 1 || value.length > MAX_NAME_CHARS) throw badRequest(`${field}: 1 to ${MAX_NAME_CHARS} characters`);
      if (!isSafeText(value)) throw badRequest(`${field} ${UNSAFE_TEXT_MESSAGE}`);
    }
    const exists = await this.db.selectFrom('accounts').select('id').where('username', '=', n.username).executeTakeFirst();
    if (exists) throw conflict(`an account named ${n.username} already exists`, 'account_exists');
    const otp = generateOneTimePassword();
    const wantTotp = n.totp ?? true;
    if (!wantTotp && this.mfaRequired(n.roles)) throw badRequest(`policy requires TOTP for roles ${this.cfg.policy.mfa_required_roles.join(', ')}`);
    const totpSecret = wantTotp ? generateTotpSecret() : null;
    const id = crypto.randomUUID();
    const row: Row = {
      id,
      username: n.username,
      display_name: n.display_name,
      organisation: n.organisation,
      kind: n.kind,
      roles: [...new Set(n.roles)].join(','),
      password_hash: await hashPassword(otp),
      must_change_password: 1,
      // Stored sealed; shown in clear once, in the answer below.
      totp_secret: totpSecret ? this.secrets.seal(totpSecret, AccountService.totpContext(id)) : null,
      totp_last_step: 0,
      disabled: 0,
      failed_logins: 0,
      locked_until: 0,
      mfa_at: 0,
      created_at: this.now(),
      token_epoch: 0,
      sso_issuer: null,
      sso_subject: null,
      mfa_amr: '',
      mfa_acr: null,
    };
    await this.db.insertInto('accounts').values(row).execute();
    await this.audit.append({ type: 'account.created', outcome: 'success', actor, meta: { username: n.username, roles: n.roles, kind: n.kind, totp: wantTotp } });
    return {
      account: toAccount(row),
      one_time_password: otp,
      totp_secret: totpSecret,
      otpauth_uri: totpSecret ? otpauthUri(totpSecret, n.username, 'Chaperone') : null,
    };
  }

  async list(): Promise<(Account & { disabled: boolean; locked: boolean; must_change_password: boolean; totp: boolean; created_at: number })[]> {
    const rows = await this.db.selectFrom('accounts').selectAll().orderBy('username').execute();
    const now = this.now();
    return rows.map((r) => ({ ...toAccount(r), disabled: r.disabled === 1, locked: r.locked_until > now, must_change_password: r.must_change_password === 1, totp: r.totp_secret !== null, created_at: r.created_at }));
  }

  private async byUsername(username: string): Promise<Row> {
    const r = await this.db.selectFrom('accounts').selectAll().where('username', '=', username).executeTakeFirst();
    if (!r) throw notFound(`no account named ${username}`);
    return r;
  }

  async disable(username: string, actor: string): Promise<void> {
    const r = await this.byUsername(username);
    await this.audit.append({ type: 'account.disabled', outcome: 'success', actor, meta: { username } });
    await this.revokeAccess(r.id, 'disabled', actor, { disabled: 1 });
  }

  /**
   * Undoes `disable`: the account may sign in again. Its old tokens stay refused (disabling moved
   * its epoch on), so nothing issued before the disable comes back to life.
   */
  async enable(username: string, actor: string): Promise<{ username: string; was_disabled: boolean }> {
    const r = await this.byUsername(username);
    await this.audit.append({ type: 'account.enabled', outcome: 'success', actor, meta: { username, was_disabled: r.disabled === 1 } });
    await this.db.updateTable('accounts').set({ disabled: 0 }).where('id', '=', r.id).execute();
    return { username, was_disabled: r.disabled === 1 };
  }

  /** Lifts a sign-in lockout (too many wrong passwords) now instead of in 15 minutes; nothing else changes. */
  async unlock(username: string, actor: string): Promise<{ username: string; was_locked: boolean }> {
    const r = await this.byUsername(username);
    const wasLocked = r.locked_until > this.now() || r.failed_logins > 0;
    await this.audit.append({ type: 'account.unlocked', outcome: 'success', actor, meta: { username, was_locked: wasLocked } });
    await this.db.updateTable('accounts').set({ failed_logins: 0, locked_until: 0 }).where('id', '=', r.id).execute();
    return { username, was_locked: wasLocked };
  }

  /** Sets the account's roles; taking one away refuses its tokens and ends its live sessions. */
  async setRoles(username: string, roles: Role[], actor: string): Promise<{ username: string; roles: Role[] }> {
    if (roles.length === 0 || roles.some((x) => !ROLES.includes(x))) throw badRequest(`roles must be some of ${ROLES.join(', ')}`);
    const r = await this.byUsername(username);
    const next = [...new Set(roles)];
    const before = r.roles.split(',').filter(Boolean) as Role[];
    const removed = before.filter((x) => !next.includes(x));
    // An SSO account's second factor is its identity provider's (the ID token's amr says which).
    if (!r.totp_secret && r.sso_issuer === null && this.mfaRequired(next)) throw badRequest(`policy requires TOTP for roles ${this.cfg.policy.mfa_required_roles.join(', ')}; this account has none`);
    await this.audit.append({ type: 'account.roles_changed', outcome: 'success', actor, meta: { username, roles: next, removed } });
    if (removed.length > 0) await this.revokeAccess(r.id, 'roles_removed', actor, { roles: next.join(',') });
    else await this.db.updateTable('accounts').set({ roles: next.join(',') }).where('id', '=', r.id).execute();
    return { username, roles: next };
  }

  /**
   * Step-up: a fresh authenticator code from a signed-in account moves its `mfa_at` to now, which
   * control and files need (common/step-up.ts). Counted and locked like sign-in attempts; a code
   * already used (at sign-in or a step-up before) is not accepted again.
   */
  async stepUp(accountId: string, totp: string, source: string | null): Promise<{ mfa_at: number }> {
    const now = this.now();
    const r = await this.db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
    if (!r || r.disabled) throw unauthorized('this account is disabled', 'account_disabled');
    const roles = r.roles.split(',') as Role[];
    if (roles.some((x) => this.cfg.policy.passkey_required_roles.includes(x))) throw forbidden('policy asks your role to confirm with a passkey, not an authenticator code', 'passkey_required');
    if (!r.totp_secret) throw forbidden('this account has no authenticator app to confirm with; an admin can give it one with a new one-time password', 'no_second_factor');
    const attempt = await this.countAttempt(r.id, now);
    const limit = this.cfg.rateLimits.login_failures_per_account;
    if (attempt.lockedUntil > now || attempt.failures > limit) throw rateLimited('too many wrong codes; try again in 15 minutes', 'account_locked');
    const secret = this.secrets.open(r.totp_secret, AccountService.totpContext(r.id));
    const step = secret ? verifyTotp(secret, totp, now, r.totp_last_step) : null;
    const claimed = step === null ? null : await this.db.updateTable('accounts').set({ totp_last_step: step, mfa_at: now, failed_logins: 0 }).where('id', '=', r.id).where('totp_last_step', '<', step).executeTakeFirst();
    if (!claimed || Number(claimed.numUpdatedRows) !== 1) {
      if (attempt.failures >= limit) await this.db.updateTable('accounts').set({ locked_until: now + LOCK_MS }).where('id', '=', r.id).where('locked_until', '<=', now).execute();
      await this.audit.refused({ type: 'auth.step_up_failed', outcome: 'failure', actor: `account:${r.username}`, source, meta: { why: step === null ? 'bad_totp' : 'totp_reused' } }, sourceRefusalKey('auth.step_up_failed', source));
      // 400, not 401: the caller is signed in; only this code was wrong.
      throw badRequest('that code is not right: type the 6 digits your authenticator app shows now', 'bad_totp');
    }
    await this.audit.append({ type: 'auth.step_up', outcome: 'success', actor: `account:${r.username}`, source, meta: { factor: 'totp' } });
    return { mfa_at: now };
  }

  /** What the consent screen names as the analyst's organisation from the next offer on; tokens stay good. */
  async setOrganisation(username: string, organisation: string, actor: string): Promise<{ username: string; organisation: string }> {
    if (organisation.length < 1 || organisation.length > MAX_NAME_CHARS || !isSafeText(organisation)) throw badRequest(`organisation: 1 to ${MAX_NAME_CHARS} characters, ${UNSAFE_TEXT_MESSAGE}`);
    const r = await this.byUsername(username);
    await this.db.updateTable('accounts').set({ organisation }).where('id', '=', r.id).execute();
    await this.audit.append({ type: 'account.organisation_changed', outcome: 'success', actor, meta: { username, before: r.organisation, after: organisation } });
    return { username, organisation };
  }

  /** An admin's reset: a new one-time password (to be changed at the next sign-in); every token it held is refused. */
  async resetPassword(username: string, actor: string): Promise<{ username: string; one_time_password: string }> {
    const r = await this.byUsername(username);
    const otp = generateOneTimePassword();
    const hash = await hashPassword(otp);
    await this.audit.append({ type: 'account.password_reset', outcome: 'success', actor, meta: { username } });
    await this.revokeAccess(r.id, 'password_reset', actor, { password_hash: hash, must_change_password: 1, failed_logins: 0, locked_until: 0 });
    return { username, one_time_password: otp };
  }

  /**
   * What an access token is checked against on every use: the account exists and is enabled,
   * the token carries the account's current epoch, and its sign-in (refresh family) has not been
   * signed out. One query, so the check costs no more than reading the account did.
   */
  async forAccessToken(sub: string, epoch: unknown, family: unknown): Promise<AccessCheck> {
    const fam = typeof family === 'string' ? family : '';
    const r = await accountForAccess.first(this.db, { sub, fam });
    if (!r || r.disabled) return { ok: false, code: 'account_disabled' };
    // Tokens from before epochs existed carry none: the account's first epoch is 0.
    const tokenEpoch = typeof epoch === 'number' ? epoch : 0;
    if (tokenEpoch !== r.token_epoch || Boolean(r.family_revoked)) return { ok: false, code: 'token_revoked' };
    const { family_revoked: _, ...row } = r;
    return { ok: true, account: { ...toAccount(row), disabled: false, token_epoch: r.token_epoch } };
  }

  /**
   * Counts this sign-in attempt against the account before anything is checked, in one
   * statement: attempts arriving together each get their own number, so no more of them are
   * evaluated than the limit allows. A lock that has run out starts the count again.
   */
  private async countAttempt(id: string, now: number): Promise<{ failures: number; lockedUntil: number }> {
    const r = await sql<{ failed_logins: number; locked_until: number }>`
      UPDATE accounts SET
        failed_logins = CASE WHEN locked_until > ${now} THEN failed_logins WHEN locked_until > 0 THEN 1 ELSE failed_logins + 1 END,
        locked_until = CASE WHEN locked_until > ${now} THEN locked_until ELSE 0 END
      WHERE id = ${id}
      RETURNING failed_logins, locked_until`.execute(this.db);
    const row = r.rows[0];
    return { failures: Number(row?.failed_logins ?? 0), lockedUntil: Number(row?.locked_until ?? 0) };
  }

  /**
   * Password, then TOTP, each attempt counted first (countAttempt) and the count cleared by a
   * success. One generic message for every failure so accounts cannot be enumerated.
   */
  async checkCredentials(
    username: string,
    password: string,
    totp: string | undefined,
    source: string | null,
    opts: {
      firstSignIn?: boolean;
      /** The password alone (a passkey sign-in's first step): no second factor, and the failure count stays. */
      passwordOnly?: boolean;
      /** A passkey's answer checked in place of the code: true when it holds. */
      passkey?: (r: Row) => Promise<boolean>;
    } = {},
  ): Promise<Row> {
    const now = this.now();
    const limit = this.cfg.rateLimits.login_failures_per_account;
    const refuse = async (why: string): Promise<never> => {
      // Anyone can type any username: one source's failures are throttled together.
      await this.audit.refused({ type: 'auth.login_failed', outcome: 'failure', actor: `account:${username.slice(0, 64)}`, source, meta: { why } }, sourceRefusalKey('auth.login_failed', source));
      throw unauthorized('wrong username, password or one-time code', 'login_failed');
    };
    const r = await this.db.selectFrom('accounts').selectAll().where('username', '=', username).executeTakeFirst();
    if (!r) {
      await verifyPassword(password, await DUMMY_HASH_PROMISE);
      return refuse('unknown_account');
    }
    const locked = async (): Promise<never> => {
      await this.db.updateTable('accounts').set({ locked_until: now + LOCK_MS }).where('id', '=', r.id).where('locked_until', '<=', now).execute();
      await this.audit.refused({ type: 'auth.login_locked', outcome: 'denied', actor: `account:${username}`, source, meta: {} }, sourceRefusalKey('auth.login_locked', source));
      throw rateLimited('too many failed sign-ins; try again in 15 minutes', 'account_locked');
    };
    const attempt = await this.countAttempt(r.id, now);
    if (attempt.lockedUntil > now || attempt.failures > limit) return locked();
    const fail = async (why: string): Promise<never> => {
      // The attempt stays counted; the one that reaches the limit locks the account.
      if (attempt.failures >= limit) await this.db.updateTable('accounts').set({ locked_until: now + LOCK_MS }).where('id', '=', r.id).where('locked_until', '<=', now).execute();
      return refuse(why);
    };
    if (!(await verifyPassword(password, r.password_hash))) return fail('bad_password');
    if (r.disabled) return fail('disabled');
    const roles = r.roles.split(',') as Role[];
    // A one-time password is only ever a way to the first-sign-in screens, which ask for the
    // code themselves (an enrolment shows it first): nothing here spends a TOTP step.
    if (opts.firstSignIn && r.must_change_password) {
      await this.db.updateTable('accounts').set({ failed_logins: 0 }).where('id', '=', r.id).execute();
      return r;
    }
    if (opts.passwordOnly) return r;
    if (opts.passkey) {
      if (!(await opts.passkey(r).catch(() => false))) return fail('bad_passkey');
      await this.db.updateTable('accounts').set({ mfa_at: now }).where('id', '=', r.id).execute();
      r.mfa_at = now;
    } else if (r.totp_secret) {
      const secret = this.secrets.open(r.totp_secret, AccountService.totpContext(r.id));
      const step = totp && secret ? verifyTotp(secret, totp, now, r.totp_last_step) : null;
      if (step === null) return fail(totp ? 'bad_totp' : 'totp_missing');
      // Claiming the step is conditional, so the same code sent twice at once signs in once.
      const claimed = await this.db.updateTable('accounts').set({ totp_last_step: step, mfa_at: now }).where('id', '=', r.id).where('totp_last_step', '<', step).executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) return fail('totp_reused');
      r.mfa_at = now;
      r.totp_last_step = step;
    } else if (this.mfaRequired(roles)) {
      return fail('totp_required_but_not_enrolled');
    }
    await this.db.updateTable('accounts').set({ failed_logins: 0 }).where('id', '=', r.id).execute();
    return r;
  }

  async login(username: string, password: string, totp: string | undefined, device: { jkt: string; jwk: object }, source: string | null, passkey?: (r: Row) => Promise<boolean>): Promise<LoginResult> {
    const r = await this.checkCredentials(username, password, totp, source, { firstSignIn: true, ...(passkey ? { passkey } : {}) });
    if (r.must_change_password) {
      await this.audit.append({ type: 'auth.password_change_required', outcome: 'denied', actor: `account:${username}`, source, meta: {} });
      throw new DomainError('forbidden', 'password_change_required', 'this is a one-time password: choose your own password first (the app asks for it; the API is POST /api/v1/auth/first-sign-in)');
    }
    await this.rememberDevice(device);
    const familyId = crypto.randomUUID();
    const res = await this.issue(r, device.jkt, familyId);
    await this.audit.append({ type: 'auth.login', outcome: 'success', actor: `account:${username}`, source, meta: { device: device.jkt, mfa: r.totp_secret !== null || passkey !== undefined, factor: passkey ? 'passkey' : r.totp_secret ? 'totp' : 'none' } });
    return res;
  }

  async changePassword(username: string, password: string, totp: string | undefined, newPassword: string, source: string | null): Promise<void> {
    const problems = passwordProblems(newPassword, { username, oneTime: password });
    if (problems.length > 0) throw badRequest(`the new password breaks a rule: ${problems.map(ruleText).join('; ')}`, 'weak_password');
    const r = await this.checkCredentials(username, password, totp, source);
    await this.audit.append({ type: 'auth.password_changed', outcome: 'success', actor: `account:${username}`, source, meta: {} });
    await this.revokeAccess(r.id, 'password_changed', `account:${username}`, { password_hash: await hashPassword(newPassword), must_change_password: 0 });
  }

  /**
   * Refresh tokens rotate: each is good once. Presenting a used one means it was copied, so the
   * whole family is revoked (the legitimate holder signs in again).
   */
  async refresh(refreshToken: string, deviceJkt: string, source: string | null): Promise<LoginResult> {
    const now = this.now();
    const t = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', sha256(refreshToken)).executeTakeFirst();
    const fail = async (why: string, accountId?: string): Promise<never> => {
      await this.audit.refused({ type: 'auth.refresh_failed', outcome: 'denied', actor: accountId ? `account_id:${accountId}` : 'anonymous', source, meta: { why } }, sourceRefusalKey('auth.refresh_failed', source, why));
      throw unauthorized('refresh token is not valid; sign in again', 'bad_refresh_token');
    };
    if (!t) return fail('unknown');
    if (t.jkt !== deviceJkt) return fail('other_device', t.account_id);
    const revokeFamily = async (why: string): Promise<never> => {
      await this.db.updateTable('refresh_tokens').set({ revoked_at: now }).where('family_id', '=', t.family_id).where('revoked_at', 'is', null).execute();
      return fail(why, t.account_id);
    };
    if (t.used_at !== null || t.revoked_at !== null) return revokeFamily('reused_family_revoked');
    if (t.expires_at <= now) return fail('expired', t.account_id);
    // A sign-in revoked while this token was being issued (a copy used at the same moment) is over too.
    const familyRevoked = await this.db.selectFrom('refresh_tokens').select('id').where('family_id', '=', t.family_id).where('revoked_at', 'is not', null).limit(1).executeTakeFirst();
    if (familyRevoked) return revokeFamily('family_revoked');
    const upd = await this.db.updateTable('refresh_tokens').set({ used_at: now }).where('id', '=', t.id).where('used_at', 'is', null).where('revoked_at', 'is', null).executeTakeFirst();
    // Another request used this token at the same moment: two holders of one token is a copy,
    // however the race went, so the whole sign-in goes (the winner's new tokens with it).
    if (Number(upd.numUpdatedRows) !== 1) return revokeFamily('reused_family_revoked');
    const r = await this.db.selectFrom('accounts').selectAll().where('id', '=', t.account_id).executeTakeFirst();
    if (!r || r.disabled) return fail('account_disabled', t.account_id);
    // Minted before the account's tokens were revoked (a new password, a role taken away).
    if (t.epoch !== r.token_epoch) return fail('revoked', t.account_id);
    const res = await this.issue(r, deviceJkt, t.family_id);
    await this.audit.append({ type: 'auth.refreshed', outcome: 'success', actor: `account:${r.username}`, source, meta: {} });
    return res;
  }

  async logout(refreshToken: string, source: string | null): Promise<void> {
    const t = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', sha256(refreshToken)).executeTakeFirst();
    if (t) await this.db.updateTable('refresh_tokens').set({ revoked_at: this.now() }).where('family_id', '=', t.family_id).execute();
    await this.audit.append({ type: 'auth.logout', outcome: 'success', actor: t ? `account_id:${t.account_id}` : 'anonymous', source, meta: {} });
  }

  /** One statement, so two first requests of one device at once do not collide. */
  async rememberDevice(device: { jkt: string; jwk: object }): Promise<void> {
    const now = this.now();
    await upsertDevice.run(this.db, { jkt: device.jkt, jwk: JSON.stringify(device.jwk), now });
  }

  async issue(r: Row, jkt: string, familyId: string): Promise<LoginResult> {
    const now = this.now();
    const exp = now + this.cfg.accessTokenTtlS * 1000;
    // `epoch` and `fam` are what each use checks besides the signature: the account's epoch when
    // this was issued (revocation of everything) and the sign-in it belongs to (sign-out).
    const { token } = await this.tokens.sign('access', { sub: r.id, roles: r.roles.split(','), cnf: { jkt }, auth_time: Math.floor(r.mfa_at / 1000), epoch: r.token_epoch, fam: familyId }, exp);
    const refresh = crypto.randomBytes(32).toString('base64url');
    await this.db
      .insertInto('refresh_tokens')
      .values({ id: crypto.randomUUID(), family_id: familyId, account_id: r.id, jkt, token_hash: sha256(refresh), created_at: now, expires_at: now + this.cfg.refreshTokenTtlS * 1000, used_at: null, revoked_at: null, epoch: r.token_epoch })
      .execute();
    return {
      access_token: token,
      token_type: 'DPoP',
      expires_in: this.cfg.accessTokenTtlS,
      refresh_token: refresh,
      refresh_expires_in: this.cfg.refreshTokenTtlS,
      account: toAccount(r),
    };
  }
}

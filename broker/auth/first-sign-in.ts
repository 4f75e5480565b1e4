import crypto from 'node:crypto';
import { PASSWORD_RULES, passwordProblems, ruleText } from '../../common/password-rules.js';
import type { Role } from '../../common/roles.js';
import type { FirstSignInStarted } from '../../common/protocol/first-sign-in.js';
import type { LoginResult } from '../../common/protocol/responses.js';
import type { AuditLog } from '../audit/log.js';
import type { BrokerConfig } from '../config.js';
import type { Storage } from '../storage/db.js';
import { badRequest, conflict, unauthorized } from '../domain-errors.js';
import { sourceRefusalKey } from '../rate-limit.js';
import { AccountService } from './accounts.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { TokenError, type TokenService } from './tokens.js';
import { generateTotpSecret, otpauthUri, verifyTotp } from './totp.js';

/** Long enough to read the rules, scan a QR code and type a code; short enough that a forgotten tab is harmless. */
const SETUP_TTL_S = 10 * 60;

/**
 * A newcomer's first sign-in, all in the app: the one-time password (nothing else) opens a
 * setup bound to the device key; the account's own password and, for an authenticator app not
 * confirmed yet, its first code close it and sign in. Until then the one-time password stays the
 * only credential and the authenticator app counts as not enrolled.
 *
 * The setup token carries the account's token epoch: finishing moves the epoch on (as every
 * password change does), so a setup token is good once, and an admin's reset or disable in
 * between makes it worthless too.
 */
export class FirstSignIn {
  private readonly ctx: { cfg: BrokerConfig; storage: Storage; audit: AuditLog; tokens: TokenService; accounts: AccountService; now: () => number };
  constructor(cfg: BrokerConfig, storage: Storage, audit: AuditLog, tokens: TokenService, accounts: AccountService, now: () => number) {
    this.ctx = { cfg, storage, audit, tokens, accounts, now };
  }

  private get db() {
    return this.ctx.storage.db;
  }

  async begin(username: string, password: string, device: { jkt: string; jwk: object }, source: string | null): Promise<FirstSignInStarted> {
    const { accounts, tokens, audit, now } = this.ctx;
    const r = await accounts.checkCredentials(username, password, undefined, source, { firstSignIn: true });
    if (!r.must_change_password) throw conflict('this account has its own password already: sign in with it', 'not_first_sign_in');
    let secret: string | null = null;
    // Never confirmed by a code: the authenticator app is enrolled now (the secret printed with
    // the one-time password, when there was one, is the same one the QR code carries).
    if (r.totp_secret && Number(r.totp_last_step) === 0) secret = accounts.secrets.open(r.totp_secret, AccountService.totpContext(r.id));
    if (!r.totp_secret && accounts.mfaRequired(r.roles.split(',') as Role[])) {
      secret = generateTotpSecret();
      await this.db.updateTable('accounts').set({ totp_secret: accounts.secrets.seal(secret, AccountService.totpContext(r.id)) }).where('id', '=', r.id).where('totp_secret', 'is', null).execute();
    }
    const { token } = await tokens.sign('setup', { sub: r.id, epoch: r.token_epoch, cnf: { jkt: device.jkt } }, now() + SETUP_TTL_S * 1000);
    await audit.append({ type: 'auth.first_sign_in_started', outcome: 'success', actor: `account:${r.username}`, source, meta: { device: device.jkt, enrols_totp: secret !== null } });
    return {
      setup_token: token,
      expires_in: SETUP_TTL_S,
      display_name: r.display_name,
      totp_required: secret !== null || r.totp_secret !== null,
      totp_enrolment: secret ? { secret, otpauth_uri: otpauthUri(secret, r.username, 'Chaperone') } : null,
      password_rules: PASSWORD_RULES.map((x) => ({ id: x.id, text: x.text })),
    };
  }

  async finish(setupToken: string, newPassword: string, totp: string | undefined, device: { jkt: string; jwk: object }, source: string | null): Promise<LoginResult> {
    const { accounts, tokens, audit, now, cfg } = this.ctx;
    const refuse = async (why: string, actor: string, err: Error): Promise<never> => {
      await audit.refused({ type: 'auth.first_sign_in_failed', outcome: 'failure', actor, source, meta: { why } }, sourceRefusalKey('auth.first_sign_in_failed', source, why));
      throw err;
    };
    const over = unauthorized('this first sign-in is over (it expired, was used, or the account changed): sign in with the one-time password again', 'setup_expired');
    let claims;
    try {
      claims = await tokens.verify('setup', setupToken);
    } catch (e) {
      if (e instanceof TokenError) return refuse(e.code, 'anonymous', over);
      throw e;
    }
    const cnf = claims.cnf as { jkt?: unknown } | undefined;
    if (cnf?.jkt !== device.jkt) return refuse('other_device', 'anonymous', over);
    const r = await this.db.selectFrom('accounts').selectAll().where('id', '=', String(claims.sub)).executeTakeFirst();
    if (!r || r.disabled || r.token_epoch !== claims.epoch || !r.must_change_password) return refuse('setup_spent', r ? `account:${r.username}` : 'anonymous', over);
    const actor = `account:${r.username}`;
    const problems = passwordProblems(newPassword, { username: r.username });
    if (problems.length === 0 && (await verifyPassword(newPassword, r.password_hash))) problems.push('not_one_time');
    if (problems.length > 0) return refuse('weak_password', actor, badRequest(`choose another password: ${problems.map(ruleText).join('; ')}`, 'weak_password'));
    const enrolling = r.totp_secret !== null && Number(r.totp_last_step) === 0;
    const t = now();
    if (r.totp_secret) {
      const secret = accounts.secrets.open(r.totp_secret, AccountService.totpContext(r.id));
      const step = totp && secret ? verifyTotp(secret, totp, t, Number(r.totp_last_step)) : null;
      const claimed = step === null ? null : await this.db.updateTable('accounts').set({ totp_last_step: step, mfa_at: t }).where('id', '=', r.id).where('totp_last_step', '<', step).executeTakeFirst();
      if (!claimed || Number(claimed.numUpdatedRows) !== 1) {
        // Six digits are guessable given time: the account's failure count bounds the guesses, and
        // the one that reaches the limit spends the setup (and locks, as a sign-in would).
        const upd = await this.db.updateTable('accounts').set((eb) => ({ failed_logins: eb('failed_logins', '+', 1) })).where('id', '=', r.id).returning('failed_logins').executeTakeFirst();
        if (Number(upd?.failed_logins ?? 0) >= cfg.rateLimits.login_failures_per_account) {
          await accounts.revokeAccess(r.id, 'password_reset', actor, { locked_until: t + 15 * 60_000 });
          return refuse('too_many_codes', actor, unauthorized('too many wrong codes: this first sign-in is over; try again in 15 minutes', 'account_locked'));
        }
        return refuse(totp ? 'bad_totp' : 'totp_missing', actor, unauthorized('that code is not right: type the 6 digits your authenticator app shows now', 'bad_totp'));
      }
    }
    await accounts.revokeAccess(r.id, 'password_changed', actor, { password_hash: await hashPassword(newPassword), must_change_password: 0, failed_logins: 0, mfa_at: r.totp_secret ? t : r.mfa_at });
    if (enrolling) await audit.append({ type: 'auth.totp_enrolled', outcome: 'success', actor, source, meta: { device: device.jkt } });
    await audit.append({ type: 'auth.password_changed', outcome: 'success', actor, source, meta: { first_sign_in: true } });
    const fresh = await this.db.selectFrom('accounts').selectAll().where('id', '=', r.id).executeTakeFirstOrThrow();
    await accounts.rememberDevice(device);
    const res = await accounts.issue(fresh, device.jkt, crypto.randomUUID());
    await audit.append({ type: 'auth.login', outcome: 'success', actor, source, meta: { device: device.jkt, mfa: fresh.totp_secret !== null, first_sign_in: true } });
    return res;
  }
}

import crypto from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { z } from 'zod';
import type { AuthenticationCredential, Passkey, RegistrationCredential } from '../../common/protocol/passkeys.js';
import type { Role } from '../../common/roles.js';
import type { AuditLog } from '../audit/log.js';
import type { BrokerConfig } from '../config.js';
import { badRequest, conflict, forbidden, notFound } from '../domain-errors.js';
import { sourceRefusalKey } from '../rate-limit.js';
import type { Storage } from '../storage/db.js';
import type { SignedInAccount } from './account.js';

/** Long enough to find a security key and touch it; a challenge left over is worthless after. */
const CHALLENGE_TTL_MS = 5 * 60_000;
/** Live challenges per account: more than a person has tabs, few enough that asking in a loop stores nothing. */
const MAX_LIVE_CHALLENGES = 5;
const MAX_PASSKEYS = 10;

type Purpose = 'register' | 'step_up' | 'sign_in';

/**
 * Passkeys as a second factor (WebAuthn through @simplewebauthn/server: maintained, typed, does the
 * attestation and assertion checks, including the signature counter). Every challenge is stored
 * in the database, bound to one account and one purpose, and consumed by one DELETE whether the
 * answer verifies or not: a replayed answer finds nothing, as does one from another account.
 */
export class PasskeyService {
  constructor(
    private readonly cfg: BrokerConfig,
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly now: () => number,
  ) {}

  private get db() {
    return this.storage.db;
  }

  private get rp(): NonNullable<BrokerConfig['webauthn']> {
    if (!this.cfg.webauthn) throw conflict('passkeys are not set up on this broker: an admin sets webauthn.rp_id and webauthn.origins in broker.json', 'passkeys_not_configured');
    return this.cfg.webauthn;
  }

  /** Whether the policy wants this account's step-up to be a passkey, not an authenticator code. */
  passkeyRequired(roles: readonly Role[]): boolean {
    return roles.some((r) => this.cfg.policy.passkey_required_roles.includes(r));
  }

  async list(accountId: string): Promise<Passkey[]> {
    const rows = await this.db.selectFrom('passkeys').select(['id', 'name', 'created_at', 'last_used_at']).where('account_id', '=', accountId).orderBy('created_at').execute();
    return rows.map((r) => ({ id: r.id, name: r.name, created_at: Number(r.created_at), last_used_at: r.last_used_at === null ? null : Number(r.last_used_at) }));
  }

  private async remember(accountId: string, purpose: Purpose, challenge: string): Promise<string> {
    const now = this.now();
    const id = crypto.randomBytes(16).toString('base64url');
    await this.db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).execute();
    await this.db.insertInto('webauthn_challenges').values({ id, account_id: accountId, purpose, challenge, expires_at: now + CHALLENGE_TTL_MS }).execute();
    // The oldest go first, so an account asking again and again keeps at most a handful.
    const keep = this.db.selectFrom('webauthn_challenges').select('id').where('account_id', '=', accountId).orderBy('expires_at', 'desc').orderBy('id').limit(MAX_LIVE_CHALLENGES);
    await this.db.deleteFrom('webauthn_challenges').where('account_id', '=', accountId).where('id', 'not in', keep).execute();
    return id;
  }

  /** Takes the challenge out in one statement: a second answer to it, or one racing the first, finds nothing. */
  private async consume(id: string, accountId: string, purpose: Purpose): Promise<string | null> {
    const row = await this.db.deleteFrom('webauthn_challenges').where('id', '=', id).where('account_id', '=', accountId).where('purpose', '=', purpose).returning(['challenge', 'expires_at']).executeTakeFirst();
    if (!row || Number(row.expires_at) <= this.now()) return null;
    return row.challenge;
  }

  private async refuse(account: { username: string }, type: 'auth.passkey_failed' | 'auth.step_up_failed', why: string, source: string | null): Promise<never> {
    const actor = `account:${account.username}`;
    const meta = { why, factor: 'passkey' };
    if (type === 'auth.passkey_failed') await this.audit.refused({ type: 'auth.passkey_failed', outcome: 'failure', actor, source, meta }, sourceRefusalKey(type, source, why));
    else await this.audit.refused({ type: 'auth.step_up_failed', outcome: 'failure', actor, source, meta }, sourceRefusalKey(type, source, why));
    throw badRequest('the passkey was not accepted: try again, and use a passkey added to this account', 'passkey_refused');
  }

  async registrationOptions(account: SignedInAccount): Promise<{ challenge_id: string; options: Record<string, unknown> }> {
    const rp = this.rp;
    this.needFreshFactor(account, 'adding a passkey');
    const existing = await this.db.selectFrom('passkeys').select(['id', 'transports']).where('account_id', '=', account.id).execute();
    if (existing.length >= MAX_PASSKEYS) throw conflict(`an account keeps at most ${MAX_PASSKEYS} passkeys: remove one first`, 'too_many_passkeys');
    const options = await generateRegistrationOptions({
      rpName: rp.rpName,
      rpID: rp.rpId,
      userName: account.username,
      userID: new TextEncoder().encode(account.id),
      userDisplayName: account.display_name,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.id, transports: transportsOf(c.transports) })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      timeout: CHALLENGE_TTL_MS,
    });
    const challenge_id = await this.remember(account.id, 'register', options.challenge);
    return { challenge_id, options: options as unknown as Record<string, unknown> };
  }

  async add(account: SignedInAccount, challengeId: string, name: string, credential: z.infer<typeof RegistrationCredential>, source: string | null): Promise<Passkey> {
    const rp = this.rp;
    const challenge = await this.consume(challengeId, account.id, 'register');
    if (!challenge) return this.refuse(account, 'auth.passkey_failed', 'unknown_or_used_challenge', source);
    let info;
    try {
      const v = await verifyRegistrationResponse({ response: credential as RegistrationResponseJSON, expectedChallenge: challenge, expectedOrigin: rp.origins, expectedRPID: rp.rpId, requireUserVerification: true });
      if (!v.verified) return this.refuse(account, 'auth.passkey_failed', 'not_verified', source);
      info = v.registrationInfo;
    } catch (e) {
      return this.refuse(account, 'auth.passkey_failed', whyOf(e), source);
    }
    const now = this.now();
    const row = { id: info.credential.id, account_id: account.id, name, public_key: Buffer.from(info.credential.publicKey).toString('base64url'), counter: info.credential.counter, transports: (info.credential.transports ?? []).join(','), created_at: now, last_used_at: null };
    const taken = await this.db.selectFrom('passkeys').select('id').where('id', '=', row.id).executeTakeFirst();
    if (taken) return this.refuse(account, 'auth.passkey_failed', 'credential_exists', source);
    await this.db.insertInto('passkeys').values(row).execute();
    await this.audit.append({ type: 'auth.passkey_added', outcome: 'success', actor: `account:${account.username}`, source, meta: { passkey: row.id.slice(0, 16), name } });
    return { id: row.id, name, created_at: now, last_used_at: null };
  }

  async remove(account: SignedInAccount, id: string, source: string | null): Promise<void> {
    const row = await this.db.deleteFrom('passkeys').where('id', '=', id).where('account_id', '=', account.id).returning(['name']).executeTakeFirst();
    if (!row) throw notFound('this account has no such passkey', 'no_such_passkey');
    await this.audit.append({ type: 'auth.passkey_removed', outcome: 'success', actor: `account:${account.username}`, source, meta: { passkey: id.slice(0, 16), name: row.name } });
  }

  stepUpOptions(account: SignedInAccount): Promise<{ challenge_id: string; options: Record<string, unknown> }> {
    return this.assertionOptions(account.id, 'step_up');
  }

  /** After the password was right (AccountService.checkCredentials, password only): a challenge to sign in with. */
  signInOptions(accountId: string): Promise<{ challenge_id: string; options: Record<string, unknown> }> {
    return this.assertionOptions(accountId, 'sign_in');
  }

  private async assertionOptions(accountId: string, purpose: 'step_up' | 'sign_in'): Promise<{ challenge_id: string; options: Record<string, unknown> }> {
    const rp = this.rp;
    const mine = await this.db.selectFrom('passkeys').select(['id', 'transports']).where('account_id', '=', accountId).execute();
    if (mine.length === 0) throw forbidden('this account has no passkey yet: add one under Passkeys in the console', 'no_passkey');
    const options = await generateAuthenticationOptions({ rpID: rp.rpId, allowCredentials: mine.map((c) => ({ id: c.id, transports: transportsOf(c.transports) })), userVerification: 'required', timeout: CHALLENGE_TTL_MS });
    const challenge_id = await this.remember(accountId, purpose, options.challenge);
    return { challenge_id, options: options as unknown as Record<string, unknown> };
  }

  /** A passkey's signature from the signed-in account moves its `mfa_at` to now, as a fresh authenticator code does. */
  async stepUp(account: SignedInAccount, challengeId: string, credential: z.infer<typeof AuthenticationCredential>, source: string | null): Promise<{ mfa_at: number }> {
    const { id: passkey, at: now } = await this.verifyAssertion(account, 'step_up', challengeId, credential, source);
    await this.db.updateTable('accounts').set({ mfa_at: now }).where('id', '=', account.id).execute();
    await this.audit.append({ type: 'auth.step_up', outcome: 'success', actor: `account:${account.username}`, source, meta: { factor: 'passkey', passkey: passkey.slice(0, 16) } });
    return { mfa_at: now };
  }

  /**
   * Checks a passkey's answer to this account's challenge of this purpose and moves the passkey's
   * counter on; the credential id and the time of use when it holds, a refusal (audited) when not.
   */
  async verifyAssertion(account: { id: string; username: string }, purpose: 'step_up' | 'sign_in', challengeId: string, credential: z.infer<typeof AuthenticationCredential>, source: string | null): Promise<{ id: string; at: number }> {
    const rp = this.rp;
    const failedType = purpose === 'sign_in' ? 'auth.passkey_failed' : 'auth.step_up_failed';
    const challenge = await this.consume(challengeId, account.id, purpose);
    if (!challenge) return this.refuse(account, failedType, 'unknown_or_used_challenge', source);
    const stored = await this.db.selectFrom('passkeys').selectAll().where('id', '=', credential.id).where('account_id', '=', account.id).executeTakeFirst();
    if (!stored) return this.refuse(account, failedType, 'unknown_passkey', source);
    let newCounter: number;
    try {
      const v = await verifyAuthenticationResponse({
        response: credential as AuthenticationResponseJSON,
        expectedChallenge: challenge,
        expectedOrigin: rp.origins,
        expectedRPID: rp.rpId,
        credential: { id: stored.id, publicKey: new Uint8Array(Buffer.from(stored.public_key, 'base64url')), counter: Number(stored.counter), transports: transportsOf(stored.transports) },
        requireUserVerification: true,
      });
      if (!v.verified) return this.refuse(account, failedType, 'not_verified', source);
      newCounter = v.authenticationInfo.newCounter;
    } catch (e) {
      return this.refuse(account, failedType, whyOf(e), source);
    }
    const now = this.now();
    // The counter only moves forward (a clone of the key would repeat or go back); authenticators
    // that keep no counter report 0 each time, which the library lets through and so does this.
    const upd = await this.db
      .updateTable('passkeys')
      .set({ counter: newCounter, last_used_at: now })
      .where('id', '=', stored.id)
      .where('counter', newCounter === 0 ? '=' : '<', newCounter)
      .executeTakeFirst();
    if (Number(upd.numUpdatedRows) !== 1) return this.refuse(account, failedType, 'counter_not_increased', source);
    return { id: stored.id, at: now };
  }

  /** A stolen access token alone must not add a way in: the account confirmed itself recently. */
  private needFreshFactor(account: SignedInAccount, what: string): void {
    if (this.now() - account.mfa_at > this.cfg.policy.step_up_minutes * 60_000) throw forbidden(`${what} needs a second factor from the last ${this.cfg.policy.step_up_minutes} minutes: confirm with your authenticator code first`, 'step_up_required');
  }
}

function transportsOf(s: string): AuthenticatorTransport[] {
  return s.split(',').filter(Boolean) as AuthenticatorTransport[];
}

/** The library's message, short: which check failed (origin, rp id, challenge, counter), for the audit. */
function whyOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  if (/origin/i.test(m)) return 'wrong_origin';
  if (/rp ?id/i.test(m)) return 'wrong_rp_id';
  if (/challenge/i.test(m)) return 'wrong_challenge';
  if (/counter/i.test(m)) return 'counter_not_increased';
  if (/user verif/i.test(m)) return 'no_user_verification';
  return 'invalid_response';
}

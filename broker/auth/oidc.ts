import crypto from 'node:crypto';
import * as client from 'openid-client';
import type { LoginResult } from '../../common/protocol/responses.js';
import type { OidcStarted } from '../../common/protocol/oidc.js';
import type { Role } from '../../common/roles.js';
import type { AuditLog } from '../audit/log.js';
import type { BrokerConfig } from '../config.js';
import { DomainError, badRequest, conflict, forbidden, unauthorized, unavailable } from '../domain-errors.js';
import type { OidcConfig } from '../../common/oidc-config.js';
import type { Storage } from '../storage/db.js';
import type { AccountService } from './accounts.js';
import { toAccount } from './accounts.js';
import { acrFromClaims, amrFromClaims, displayNameFromClaims, organisationFromClaims, rolesFromClaims, usernameFromClaims } from './oidc-claims.js';
import { checkIdToken, idTokenKeys, type IdTokenKeys } from './oidc-id-token.js';
import { hashPassword } from './passwords.js';

/** Long enough for a person at the provider's pages (a password, a push to the phone); short enough that a forgotten tab is harmless. */
const FLOW_TTL_S = 10 * 60;
export const CALLBACK_PATH = '/api/v1/auth/oidc/callback';
/** The desktop app's loopback redirect (RFC 8252 section 7.3): any port, this path. */
export const LOOPBACK_PATH = '/sso/callback';

export function isLoopbackRedirect(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' && u.hostname === '127.0.0.1' && u.port !== '' && u.pathname === LOOPBACK_PATH && !u.search && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}

type Purpose = 'sign_in' | 'step_up';
interface Device {
  jkt: string;
  jwk: object;
}

/**
 * Single sign-on with OpenID Connect: authorization code with PKCE (S256), state and nonce, the
 * verifier never leaving the broker. A sign-in is bound at its start to the device key that
 * asked: the provider's answer (code and state, in a URL anyone might copy) is redeemed only with
 * a proof from that key, so a stolen callback URL gets nobody a token.
 */
export class OidcService {
  private config: Promise<{ conf: client.Configuration; keys: IdTokenKeys; issuer: string }> | null = null;

  constructor(
    private readonly cfg: BrokerConfig,
    readonly oidc: OidcConfig,
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly accounts: AccountService,
    private readonly now: () => number,
  ) {}

  private get db() {
    return this.storage.db;
  }

  /** The provider's metadata, fetched on first use and again after a failure (the provider may start after the broker). */
  private provider() {
    this.config ??= (async () => {
      const insecure = new URL(this.oidc.issuer).protocol === 'http:';
      const conf = await client.discovery(new URL(this.oidc.issuer), this.oidc.client_id, this.oidc.client_secret, undefined, insecure ? { execute: [client.allowInsecureRequests] } : {});
      const meta = conf.serverMetadata();
      if (!meta.jwks_uri) throw new Error('the provider publishes no jwks_uri');
      if (!(meta.code_challenge_methods_supported ?? ['S256']).includes('S256')) throw new Error('the provider does not support PKCE with S256');
      return { conf, keys: idTokenKeys(meta.jwks_uri), issuer: meta.issuer };
    })();
    return this.config.catch((e: Error) => {
      this.config = null;
      throw unavailable(`the identity provider ${this.oidc.issuer} does not answer as an OpenID provider: ${e.message}`, 'sso_provider_unavailable');
    });
  }

  private returnAllowed(returnTo: string): boolean {
    try {
      const u = new URL(returnTo);
      if (u.hash || u.username || u.password) return false;
      return [new URL(this.cfg.publicUrl).origin, ...this.oidc.return_origins].includes(u.origin);
    } catch {
      return false;
    }
  }

  async start(device: Device, where: { return_to?: string | undefined; loopback_redirect_uri?: string | undefined }, purpose: Purpose = 'sign_in', account?: { id: string }): Promise<OidcStarted> {
    let redirectUri: string;
    if (where.loopback_redirect_uri !== undefined) {
      if (!isLoopbackRedirect(where.loopback_redirect_uri)) throw badRequest(`loopback_redirect_uri must be http://127.0.0.1:{port}${LOOPBACK_PATH}`, 'sso_bad_redirect');
      redirectUri = where.loopback_redirect_uri;
    } else {
      if (!where.return_to || !this.returnAllowed(where.return_to)) throw badRequest('return_to must be an address of the broker or of oidc.return_origins, without a fragment', 'sso_bad_return_to');
      redirectUri = new URL(CALLBACK_PATH, this.cfg.publicUrl).toString();
    }
    const { conf } = await this.provider();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const maxAgeS = purpose === 'step_up' ? this.cfg.policy.step_up_minutes * 60 : null;
    const params: Record<string, string> = {
      redirect_uri: redirectUri,
      scope: this.oidc.scopes.join(' '),
      response_type: 'code',
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    };
    if (maxAgeS !== null) params.max_age = String(maxAgeS);
    if (purpose === 'step_up' && this.oidc.step_up_acr) params.acr_values = this.oidc.step_up_acr;
    await this.db
      .insertInto('oidc_flows')
      .values({ state, nonce, code_verifier: verifier, jkt: device.jkt, redirect_uri: redirectUri, return_to: where.return_to ?? null, purpose, account_id: account?.id ?? null, max_age_s: maxAgeS, expires_at: this.now() + FLOW_TTL_S * 1000, used_at: null })
      .execute();
    // Flows nobody finished are of no use to anyone after their ten minutes.
    await this.db.deleteFrom('oidc_flows').where('expires_at', '<', this.now() - FLOW_TTL_S * 1000).execute();
    return { authorization_url: client.buildAuthorizationUrl(conf, params).toString(), state, expires_in: FLOW_TTL_S };
  }

  /** Where the provider's redirect to the broker sends the browser on: the page that started, with the answer in the fragment (never sent to a server). */
  async callbackTarget(q: { state?: string | undefined; code?: string | undefined; iss?: string | undefined; error?: string | undefined; error_description?: string | undefined }): Promise<string> {
    const flow = q.state ? await this.db.selectFrom('oidc_flows').selectAll().where('state', '=', q.state).executeTakeFirst() : undefined;
    if (!flow || flow.return_to === null || flow.used_at !== null || flow.expires_at <= this.now()) {
      await this.refuse('sso_bad_state', null, null);
      throw badRequest('this sign-in is not one the broker started, or it is over: start again from the sign-in screen', 'sso_bad_state');
    }
    const answer = new URLSearchParams();
    answer.set('sso_state', flow.state);
    if (q.code) answer.set('sso_code', q.code);
    if (q.iss) answer.set('sso_iss', q.iss);
    if (q.error) answer.set('sso_error', q.error.slice(0, 100));
    if (q.error_description) answer.set('sso_error_description', q.error_description.slice(0, 300));
    return `${flow.return_to}#${answer.toString()}`;
  }

  private async refuse(why: string, device: string | null, actor: string | null): Promise<void> {
    await this.audit.append({ type: 'auth.sso_refused', outcome: 'denied', actor: actor ?? 'anonymous', meta: { why, ...(device ? { device } : {}) } });
  }

  /** The provider's answer, redeemed: the flow is spent whatever happens next, and only its own device may spend it. */
  private async redeem(device: Device, answer: { state: string; code: string; iss?: string | undefined }, purpose: Purpose) {
    const flow = await this.db.selectFrom('oidc_flows').selectAll().where('state', '=', answer.state).executeTakeFirst();
    const fail = async (code: string, message: string, kind: 'unauthorized' | 'forbidden' = 'unauthorized'): Promise<never> => {
      await this.refuse(code, device.jkt, null);
      throw new DomainError(kind, code, message);
    };
    if (!flow || flow.purpose !== purpose || flow.expires_at <= this.now()) return fail('sso_bad_state', 'this sign-in is not one the broker started, or it is over: start again');
    if (flow.jkt !== device.jkt) return fail('sso_other_device', 'this sign-in was started by another device: the answer of the identity provider is only good on the device that asked');
    const spent = await this.db.updateTable('oidc_flows').set({ used_at: this.now() }).where('state', '=', flow.state).where('used_at', 'is', null).executeTakeFirst();
    if (Number(spent.numUpdatedRows) !== 1) return fail('sso_bad_state', 'this sign-in was finished already: start again');
    const { conf, keys, issuer } = await this.provider();
    const url = new URL(flow.redirect_uri);
    url.searchParams.set('code', answer.code);
    url.searchParams.set('state', answer.state);
    if (answer.iss !== undefined) url.searchParams.set('iss', answer.iss);
    let idToken: string | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(conf, url, { pkceCodeVerifier: flow.code_verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true, ...(flow.max_age_s !== null ? { maxAge: flow.max_age_s } : {}) });
      idToken = tokens.id_token;
    } catch (e) {
      return fail(...clientRefusal(e));
    }
    if (!idToken) return fail('sso_bad_id_token', 'the identity provider answered without an ID token');
    let claims;
    try {
      claims = await checkIdToken(idToken, keys, { issuer, audience: this.oidc.client_id, nonce: flow.nonce, nowMs: this.now(), maxAgeS: flow.max_age_s ?? undefined });
    } catch (e) {
      if (e instanceof DomainError) await this.refuse(e.code, device.jkt, null);
      throw e;
    }
    if (purpose === 'step_up' && this.oidc.step_up_acr && claims.acr !== this.oidc.step_up_acr) return fail('sso_acr_not_met', `the identity provider did not confirm with ${this.oidc.step_up_acr}, which policy requires before control`, 'forbidden');
    return { flow, claims: claims as Record<string, unknown> & { sub: string }, issuer };
  }

  async finish(device: Device, answer: { state: string; code: string; iss?: string | undefined }, source: string | null): Promise<LoginResult> {
    const { claims, issuer } = await this.redeem(device, answer, 'sign_in');
    const roles = rolesFromClaims(this.oidc, claims);
    const organisation = organisationFromClaims(this.oidc, claims);
    const authTime = typeof claims.auth_time === 'number' ? claims.auth_time * 1000 : 0;
    const amr = amrFromClaims(claims).join(',');
    const acr = acrFromClaims(claims);
    let row = await this.db.selectFrom('accounts').selectAll().where('sso_issuer', '=', issuer).where('sso_subject', '=', claims.sub).executeTakeFirst();
    const actorOf = (u: string) => `account:${u}`;
    if (row?.disabled) {
      await this.refuse('account_disabled', device.jkt, actorOf(row.username));
      throw unauthorized('this account is disabled in Chaperone: an admin can enable it again', 'account_disabled');
    }
    if (!row) {
      if (roles.length === 0) {
        await this.refuse('sso_no_role', device.jkt, `sso:${claims.sub.slice(0, 64)}`);
        throw forbidden('your account at the identity provider is in none of the groups that give a Chaperone role: ask an admin', 'sso_no_role');
      }
      const username = usernameFromClaims(this.oidc, claims);
      if (!username) throw badRequest(`the ID token has no usable ${this.oidc.username_claim} to name the account`, 'sso_no_username');
      const taken = await this.db.selectFrom('accounts').select('id').where('username', '=', username).executeTakeFirst();
      if (taken) {
        await this.refuse('sso_username_taken', device.jkt, actorOf(username));
        throw conflict(`an account named ${username} exists already and is not linked to this identity provider: an admin decides which one it is`, 'sso_username_taken');
      }
      const id = crypto.randomUUID();
      row = {
        id,
        username,
        display_name: displayNameFromClaims(claims, username),
        organisation,
        kind: this.oidc.kind,
        roles: roles.join(','),
        // Nobody knows it: an SSO account signs in only through its provider.
        password_hash: await hashPassword(crypto.randomBytes(32).toString('base64url')),
        must_change_password: 0,
        totp_secret: null,
        totp_last_step: 0,
        disabled: 0,
        failed_logins: 0,
        locked_until: 0,
        mfa_at: authTime,
        created_at: this.now(),
        token_epoch: 0,
        sso_issuer: issuer,
        sso_subject: claims.sub,
        mfa_amr: amr,
        mfa_acr: acr,
      };
      await this.db.insertInto('accounts').values(row).execute();
      await this.audit.append({ type: 'account.created', outcome: 'success', actor: `sso:${issuer}`, source, meta: { username, roles, kind: row.kind, sso: true } });
    } else {
      const before = row.roles.split(',').filter(Boolean) as Role[];
      const removed = before.filter((r) => !roles.includes(r));
      const patch = { roles: roles.join(','), organisation, display_name: displayNameFromClaims(claims, row.display_name), mfa_at: Math.max(authTime, 0), mfa_amr: amr, mfa_acr: acr };
      if (removed.length > 0) {
        await this.audit.append({ type: 'account.roles_changed', outcome: 'success', actor: `sso:${issuer}`, source, meta: { username: row.username, roles, removed } });
        await this.accounts.revokeAccess(row.id, 'roles_removed', `sso:${issuer}`, patch);
      } else {
        await this.db.updateTable('accounts').set(patch).where('id', '=', row.id).execute();
      }
      row = await this.db.selectFrom('accounts').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
      if (roles.length === 0) {
        await this.refuse('sso_no_role', device.jkt, actorOf(row.username));
        throw forbidden('your account at the identity provider is no longer in a group that gives a Chaperone role: ask an admin', 'sso_no_role');
      }
    }
    await this.accounts.rememberDevice(device);
    const res = await this.accounts.issue(row, device.jkt, crypto.randomUUID());
    await this.audit.append({ type: 'auth.login', outcome: 'success', actor: actorOf(row.username), source, meta: { device: device.jkt, sso: issuer, amr: amr.split(',').filter(Boolean), acr, auth_time: Math.floor(authTime / 1000) } });
    return { ...res, account: toAccount(row) };
  }

  /** Re-authorisation at the provider (max_age, and the acr policy requires): moves the account's second-factor time on. */
  async finishStepUp(accountId: string, device: Device, answer: { state: string; code: string; iss?: string | undefined }, source: string | null): Promise<{ mfa_at: number }> {
    const { flow, claims, issuer } = await this.redeem(device, answer, 'step_up');
    const row = await this.db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
    if (!row || flow.account_id !== accountId || row.sso_issuer !== issuer || row.sso_subject !== claims.sub) {
      await this.refuse('sso_other_person', device.jkt, row ? `account:${row.username}` : null);
      throw unauthorized('the identity provider confirmed someone else than the signed-in account', 'sso_other_person');
    }
    const mfaAt = (claims.auth_time as number) * 1000;
    const amr = amrFromClaims(claims).join(',');
    await this.db.updateTable('accounts').set({ mfa_at: mfaAt, mfa_amr: amr, mfa_acr: acrFromClaims(claims) }).where('id', '=', row.id).execute();
    await this.audit.append({ type: 'auth.step_up', outcome: 'success', actor: `account:${row.username}`, source, meta: { factor: 'sso', amr: amr.split(',').filter(Boolean) } });
    return { mfa_at: mfaAt };
  }

  /** For an SSO account: its step-up is at the provider, not a local code. */
  async isSsoAccount(accountId: string): Promise<boolean> {
    const r = await this.db.selectFrom('accounts').select('sso_issuer').where('id', '=', accountId).executeTakeFirst();
    return r?.sso_issuer != null;
  }
}

/** openid-client's refusals, as a person setting up a provider can act on them. */
function clientRefusal(e: unknown): [string, string] {
  const err = e as { error?: string; error_description?: string; message?: string };
  if (err.error === 'invalid_grant') return ['sso_code_refused', `the identity provider refused the code: ${err.error_description ?? 'invalid_grant'} (a wrong PKCE verifier, a code used twice or for another redirect)`];
  if (err.error) return ['sso_provider_refused', `the identity provider refused: ${err.error}${err.error_description ? `: ${err.error_description}` : ''}`];
  // The library wraps its check's error, which names the claim or parameter that did not match.
  const chain: { message?: string; cause?: unknown; claim?: string }[] = [];
  for (let c: unknown = e; c && typeof c === 'object' && chain.length < 4; c = (c as { cause?: unknown }).cause) chain.push(c as never);
  const claim = chain.find((c) => typeof c.claim === 'string')?.claim;
  const said = chain.map((c) => c.message ?? '').join(' ');
  if (claim === 'iss' || /"iss"/.test(said)) return ['sso_wrong_issuer', 'the answer or the ID token names another issuer than the one configured'];
  if (claim === 'aud' || /"aud"/.test(said)) return ['sso_wrong_audience', 'the ID token is for another client'];
  if (claim === 'nonce' || /"nonce"/.test(said)) return ['sso_wrong_nonce', 'the ID token was issued for another sign-in (its nonce is not this one)'];
  if (/"state"/.test(said)) return ['sso_bad_state', "the answer's state is not this sign-in's"];
  // A re-authorisation whose auth_time is older than the max_age asked for: the library checks it before our own check can.
  if (claim === 'auth_time' || /"auth_time"/.test(said)) return ['sso_stale_auth', 'the identity provider did not authenticate you again recently enough: sign in there again'];
  return ['sso_bad_answer', `the identity provider's answer could not be used: ${chain.at(-1)?.message ?? err.message ?? 'unknown error'}`];
}

import { importJWK, jwtVerify, errors as joseErrors, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { OfferView, PolicyView } from '../../common/bridge/api.js';
import type { Capability } from '../../common/capabilities.js';
import type { MachinePolicy } from '../../common/machine-policy.js';
import { missingCase } from '../../common/missing-case.js';
import type { MachinePolicyResult } from './load.js';

/** A session the machine policy does not allow; the message is for the end user and their helpdesk. */
export class MachinePolicyRefusal extends Error {
  constructor(
    readonly reason: 'policy_invalid' | 'organisation_not_allowed' | 'too_long' | 'capability_denied' | 'broker_key_not_pinned' | 'analyst_mode_off',
    message: string,
  ) {
    super(message);
    this.name = 'MachinePolicyRefusal';
  }
}

/** Room for the broker's and this machine's clocks to differ when a session's end is checked against the maximum. */
const CLOCK_SLACK_MS = 120_000;
const MAX_JWKS_BYTES = 64 * 1024;

/** What policy.get adds for the renderer: the bridge schema's own fields, not a copy of them. */
export type ManagedView = Pick<PolicyView, 'managed' | 'analystMode' | 'maxDurationS' | 'clipboardImagesDenied'>;

/**
 * Applies the machine policy to MainServices. Unmanaged (`none`) changes nothing; `invalid`
 * refuses everything that starts or continues a session; `ok` pins the broker and its key and
 * holds every offer to the consent floor. The checks are here rather than inline so the service
 * reads as it did, with one guard call at each door.
 */
export class MachinePolicyGuard {
  private readonly opened = new Map<string, number>();

  constructor(private readonly result: MachinePolicyResult = { status: 'none' }) {}

  private get policy(): MachinePolicy | null {
    return this.result.status === 'ok' ? this.result.policy : null;
  }

  /** The broker the process talks to: the pinned one when a policy is in force. */
  brokerUrl(configured: string): string {
    return this.policy?.brokerUrl ?? configured;
  }

  /** Throws while the policy is broken: no session starts until an administrator fixes it. */
  assertUsable(): void {
    if (this.result.status === 'invalid') throw new MachinePolicyRefusal('policy_invalid', this.result.message);
  }

  view(): ManagedView {
    const r = this.result;
    switch (r.status) {
      case 'none':
        return { managed: null, analystMode: true, maxDurationS: null, clipboardImagesDenied: false };
      case 'invalid':
        return { managed: { status: 'invalid', source: r.source, message: r.message }, analystMode: false, maxDurationS: null, clipboardImagesDenied: true };
      case 'ok':
        return { managed: { status: 'ok', source: r.source, message: null }, analystMode: r.policy.analystMode, maxDurationS: r.policy.maxSessionSeconds, clipboardImagesDenied: r.policy.clipboardImagesDenied };
      default:
        return missingCase(r);
    }
  }

  deniedCapabilities(): Capability[] {
    return this.policy?.deniedCapabilities ?? [];
  }

  /** Whether this machine keeps the clipboard to text whatever the offer says. */
  clipboardImagesDenied(): boolean {
    return this.policy?.clipboardImagesDenied ?? false;
  }

  controlPromptSeconds(): number | null {
    return this.policy?.controlPromptSeconds ?? null;
  }

  /** The analyst screens talk to the broker's staff API; a machine without analyst mode makes no proofs for it. */
  assertProofAllowed(pathname: string): void {
    this.assertUsable();
    if (this.view().analystMode) return;
    if (pathname === '/api/v1/join' || pathname.startsWith('/api/v1/join/')) return;
    throw new MachinePolicyRefusal('analyst_mode_off', "This machine's policy does not include the analyst mode; only joining a session is possible here.");
  }

  /**
   * Verifies an offer's signature. With a pinned key, only that key is trusted: the broker's
   * published key set must contain it (otherwise this is not our broker, or it rotated to a key
   * the administrator has not pinned yet), and the signature must verify under it.
   * Returns null when no key is pinned, so the caller verifies against the broker's key set.
   */
  async verifyPinned(offer: string, fetchJwks: () => Promise<unknown>, options: JWTVerifyOptions): Promise<JWTPayload | null> {
    this.assertUsable();
    const policy = this.policy;
    if (!policy) return null;
    const published = publishedKeys(await fetchJwks());
    if (!policy.brokerPublicKeys.some((x) => published.has(x))) {
      throw new MachinePolicyRefusal('broker_key_not_pinned', `The broker at ${policy.brokerUrl} does not publish the key this machine's policy pins, so it cannot be trusted. An administrator must check the broker address and key in the machine policy.`);
    }
    for (const x of policy.brokerPublicKeys) {
      const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x }, 'EdDSA');
      try {
        return (await jwtVerify(offer, key, options)).payload;
      } catch (err) {
        if (err instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        throw err;
      }
    }
    throw new MachinePolicyRefusal('broker_key_not_pinned', "This offer is not signed with the broker key this machine's policy pins.");
  }

  /** The consent floor applied to what the broker signed: organisation, length, capabilities. */
  checkOffer(view: OfferView): void {
    this.assertUsable();
    const policy = this.policy;
    if (!policy) return;
    const allowed = policy.allowedOrganisations;
    if (allowed && !allowed.some((o) => o.toLowerCase() === view.org.trim().toLowerCase())) {
      throw new MachinePolicyRefusal('organisation_not_allowed', `This machine's policy accepts sessions only from ${allowed.join(', ')}; this one is from ${view.org || 'no organisation'}.`);
    }
    if (policy.maxSessionSeconds !== null && view.duration_s > policy.maxSessionSeconds) {
      throw new MachinePolicyRefusal('too_long', `This machine's policy allows sessions of at most ${minutes(policy.maxSessionSeconds)}; this one asks for ${minutes(view.duration_s)}.`);
    }
    const denied = view.capabilities.filter((c) => policy.deniedCapabilities.includes(c));
    if (denied.length) throw new MachinePolicyRefusal('capability_denied', `This machine's policy does not allow ${denied.join(', ')} in a session; this one asks for it.`);
  }

  /** The session's local end never lies beyond the maximum from when it opened here. */
  checkSessionEnd(sessionId: string, now: number, expiresAt: number): void {
    this.assertUsable();
    const max = this.policy?.maxSessionSeconds;
    if (max === null || max === undefined) return;
    const openedAt = this.opened.get(sessionId) ?? now;
    if (expiresAt - openedAt > max * 1000 + CLOCK_SLACK_MS) {
      throw new MachinePolicyRefusal('too_long', `This machine's policy allows sessions of at most ${minutes(max)}; the session cannot run longer.`);
    }
    if (!this.opened.has(sessionId)) this.opened.set(sessionId, now);
  }

  sessionEnded(sessionId: string): void {
    this.opened.delete(sessionId);
  }
}

/** The `x` of every Ed25519 key in a JWKS, read as untrusted input. */
function publishedKeys(jwks: unknown): Set<string> {
  const out = new Set<string>();
  if (JSON.stringify(jwks ?? null).length > MAX_JWKS_BYTES) return out;
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return out;
  for (const k of keys.slice(0, 20)) {
    const j = k as { kty?: unknown; crv?: unknown; x?: unknown };
    if (j?.kty === 'OKP' && j.crv === 'Ed25519' && typeof j.x === 'string') out.add(j.x);
  }
  return out;
}

function minutes(s: number): string {
  const m = Math.ceil(s / 60);
  return `${m} minute${m === 1 ? '' : 's'}`;
}

import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { OfferViewSchema, type OfferView } from '../common/bridge/api.js';
import type { Clock } from './clock.js';
import type { MachinePolicyGuard } from './machine-policy/guard.js';
import { sha256b64url } from './proofs.js';

/** How long the broker's key set is trusted before it is fetched again. */
const JWKS_CACHE_MS = 60_000;

export interface OfferVerifierOptions {
  /** The pinned broker, whose JWKS signs offers. */
  brokerUrl: string;
  issuer?: string;
  clock: Clock;
  fetch: typeof fetch;
  guard: MachinePolicyGuard;
  /** This device's key thumbprint: an offer bound to another device is refused. */
  deviceJkt: string;
}

/**
 * The check of the broker's signed offer, made in main before the end user is shown anything:
 * signature against the broker's JWKS (or the machine policy's pinned key), `typ`, audience,
 * issuer, expiry, `cnf.jkt` = this device, then the machine policy's consent floor. What it
 * returns is the only thing the consent screen and the consent receipt rest on.
 */
export class OfferVerifier {
  private jwks: { set: ReturnType<typeof createLocalJWKSet>; at: number } | null = null;
  /** Offers this process checked, by hash: the consent receipt answers only these. */
  private readonly verified = new Map<string, OfferView>();

  constructor(private readonly opts: OfferVerifierOptions) {}

  /** Checks the offer and remembers it, so the end user's answer can refer to exactly it. */
  async verify(offer: string): Promise<OfferView> {
    const view = await this.check(offer);
    this.verified.set(sha256b64url(offer), view);
    return view;
  }

  /** The view of an offer checked earlier, or a fresh check of one that was not. */
  async checked(offer: string): Promise<OfferView> {
    return this.verified.get(sha256b64url(offer)) ?? (await this.check(offer));
  }

  /** The broker's key set as the pinned broker publishes it (the machine policy checks it against its pinned key). */
  async fetchJwks(): Promise<unknown> {
    const res = await this.opts.fetch(`${this.opts.brokerUrl}/.well-known/jwks.json`);
    if (!res.ok) throw new Error(`the broker's keys are unavailable (${res.status})`);
    return res.json();
  }

  private async keys(force: boolean): Promise<ReturnType<typeof createLocalJWKSet>> {
    const now = this.opts.clock.now();
    if (this.jwks && !force && now - this.jwks.at < JWKS_CACHE_MS) return this.jwks.set;
    const set = createLocalJWKSet((await this.fetchJwks()) as JSONWebKeySet);
    this.jwks = { set, at: this.opts.clock.now() };
    return set;
  }

  private async check(offer: string): Promise<OfferView> {
    const verifyOptions = {
      algorithms: ['EdDSA'],
      typ: 'chaperone-offer+jwt',
      audience: 'chaperone-client',
      issuer: this.opts.issuer ?? 'chaperone-broker',
      currentDate: new Date(this.opts.clock.now()),
    };
    const verifyWith = async (force: boolean) => jwtVerify(offer, await this.keys(force), verifyOptions);
    let payload: Record<string, unknown>;
    const pinned = await this.opts.guard.verifyPinned(offer, () => this.fetchJwks(), verifyOptions);
    if (pinned) payload = pinned;
    else {
      try {
        payload = (await verifyWith(false)).payload;
      } catch {
        // A rotated key is not in a cached set yet: one fresh fetch, then give up.
        payload = (await verifyWith(true)).payload;
      }
    }
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    if (cnf?.jkt !== this.opts.deviceJkt) throw new Error('this offer was made for another device');
    const view = OfferViewSchema.parse({
      sid: payload.sid,
      org: payload.org,
      analyst: payload.analyst,
      verification: payload.verification,
      ticket: payload.ticket,
      reason: payload.reason,
      capabilities: payload.capabilities,
      consent_covers: payload.consent_covers,
      granted_later: payload.granted_later,
      duration_s: payload.duration_s,
      recording: payload.recording,
      ...(payload.branding === undefined ? {} : { branding: payload.branding }),
      watchers: payload.watchers,
      ...(payload.clipboard_images === undefined ? {} : { clipboard_images: payload.clipboard_images }),
      exp: payload.exp,
      iat: payload.iat,
    });
    this.opts.guard.checkOffer(view);
    return view;
  }
}

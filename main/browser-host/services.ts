import path from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { CONSENT_CAPABILITIES, type Capability } from '../../common/capabilities.js';
import {
  OfferViewSchema,
  type BridgeEvent,
  type BridgeEventPayload,
  type BridgeHandlers,
  type OfferView,
  type PolicyView,
} from '../../common/bridge/api.js';
import { systemClock, type Clock } from '../clock.js';
import { FileGrantJournal, recoverAfterCrash, type RecoveredGrant } from '../grant-journal.js';
import { GrantRegistry, type GrantKind } from '../grants.js';
import type { Injector } from '../injector.js';
import { InputGate } from '../input-gate.js';
import { MachinePolicyGuard } from '../machine-policy/guard.js';
import type { MachinePolicyResult } from '../machine-policy/index.js';
import type { SecretStore } from '../secret-store.js';
import { DeviceKeyService, sha256b64url } from './device-key.js';

export interface MainServicesOptions {
  /** The pinned broker, reached from the main process (JWKS, crash reports). */
  brokerUrl: string;
  /** Where grant journal and device key live (0700). */
  dataDir: string;
  /** Makes the input injector when control is first granted; without it control is refused. */
  createInjector?: () => Promise<Injector>;
  clock?: Clock;
  issuer?: string;
  policy?: Partial<Omit<PolicyView, 'brokerUrl'>>;
  fetch?: typeof fetch;
  onError?: (err: unknown) => void;
  /** The Electron build keeps the device key here (safeStorage) instead of in dataDir. */
  secrets?: SecretStore;
  /**
   * The administrator's machine policy (main/machine-policy/). `ok` pins the broker (overriding
   * brokerUrl) and its key and sets the consent floor; `invalid` refuses every session.
   */
  machinePolicy?: MachinePolicyResult;
}

/** How long an accepted consent waits for its screen capture to start before it lapses. */
const CONSENT_CAPTURE_WINDOW_MS = 60_000;

type Emit = <E extends BridgeEvent>(event: E, payload: BridgeEventPayload<E>) => void;

/**
 * The end user's (and the analyst's) main-process services behind the bridge: the device key, the
 * grant registry with its crash journal, the input gate and the injector, and the check of the
 * broker's signed offer. Electron's composition root and the browser test host both serve exactly
 * these handlers, through `dispatchBridgeCall`.
 */
export class MainServices {
  readonly registry: GrantRegistry;
  readonly gate: InputGate;
  /** Origin of the broker as the renderer sees it; proofs are made for nothing else. */
  rendererBrokerUrl: string;
  /** Sessions open on this machine and their end, as the broker decided it. */
  private readonly active = new Map<string, number>();
  private readonly listeners = new Set<Emit>();
  private injector: Injector | null = null;
  private injectorPromise: Promise<Injector> | null = null;
  private readonly verifiedOffers = new Map<string, OfferView>();
  /** Sessions whose offer the end user accepted with screen viewing, and when. */
  private readonly captureConsents = new Map<string, number>();
  /** Sessions whose end user signed an extension receipt here that has not moved the end yet. */
  private readonly extensionConsents = new Set<string>();
  private jwks: { set: ReturnType<typeof createLocalJWKSet>; at: number } | null = null;
  private readonly clock: Clock;
  private readonly fetch: typeof fetch;
  private readonly guard: MachinePolicyGuard;

  private constructor(
    private readonly opts: MainServicesOptions,
    readonly device: DeviceKeyService,
    /** What a crashed previous run left behind and this start revoked. */
    readonly recovered: RecoveredGrant[],
  ) {
    this.clock = opts.clock ?? systemClock;
    this.fetch = opts.fetch ?? fetch;
    this.guard = new MachinePolicyGuard(opts.machinePolicy);
    // The pinned broker wins over any address given elsewhere, for every use below.
    this.opts = { ...opts, brokerUrl: this.guard.brokerUrl(opts.brokerUrl) };
    this.rendererBrokerUrl = this.opts.brokerUrl;
    this.registry = new GrantRegistry({ clock: this.clock, journal: new FileGrantJournal(path.join(opts.dataDir, 'grants.json')), onError: opts.onError });
    const injectorProxy: Injector = {
      get screen() {
        return { x: 0, y: 0, width: 1, height: 1 };
      },
      move: (x, y) => this.mustInjector().move(x, y),
      button: (b, d) => this.mustInjector().button(b, d),
      wheel: (dx, dy) => this.mustInjector().wheel(dx, dy),
      key: (c, k, d) => this.mustInjector().key(c, k, d),
      text: (s) => this.mustInjector().text(s),
      releaseAll: () => this.injector?.releaseAll(),
      close: async () => this.injector?.close(),
    };
    this.gate = new InputGate({
      grants: this.registry,
      isSessionActive: (id) => this.active.has(id),
      injector: injectorProxy,
      now: () => this.clock.now(),
      onChat: (sessionId, text) => this.emit('chat', { sessionId, text }),
    });
    this.registry.onRevoked((g, reason) => this.emit('grant.revoked', { kind: g.kind, reason }));
  }

  /** Recovers from a crashed run (revoking and reporting what it held), then starts the services. */
  static async start(opts: MainServicesOptions): Promise<MainServices> {
    const clock = opts.clock ?? systemClock;
    const device = await DeviceKeyService.create({ file: path.join(opts.dataDir, 'device-key.json'), secrets: opts.secrets, now: () => clock.now() });
    const journal = new FileGrantJournal(path.join(opts.dataDir, 'grants.json'));
    // Nothing of a crashed run is alive in this process: capture died with its renderer, and an
    // injector that might hold keys is a fresh connection we release through.
    const recovered = await recoverAfterCrash(journal, { capture: () => undefined, control: () => undefined, clipboard: () => undefined, files: () => undefined });
    const s = new MainServices(opts, device, recovered);
    await s.reportRecovered().catch((err: unknown) => opts.onError?.(err));
    return s;
  }

  onEvent(fn: Emit): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Sessions open on this machine (the Electron shell locks its window while there is one). */
  activeSessions(): string[] {
    return [...this.active.keys()];
  }

  /**
   * Whether screen capture may start now: the end user accepted an offer that lets the analyst see
   * the screen (within the last minute, for the first capture), or a session holds the capture
   * grant (to switch screens within it). Electron's display-media handler asks this; nothing else
   * lets a page capture the screen.
   */
  isCaptureConsented(): boolean {
    const now = this.clock.now();
    for (const [sid, at] of this.captureConsents) {
      if (now - at <= CONSENT_CAPTURE_WINDOW_MS && now >= at) return true;
      if (this.active.has(sid) && this.registry.grants().some((g) => g.sessionId === sid && g.kind === 'capture')) return true;
    }
    return false;
  }

  /** The panic chord (Electron: globalShortcut) tells every page to stop. */
  panic(): void {
    this.emit('panic', {});
  }

  /**
   * The renderer went away (reload, crash, window closed): nothing can confirm its grants are
   * still wanted, so every open session ends locally, fail closed.
   */
  async rendererGone(): Promise<void> {
    this.captureConsents.clear();
    this.extensionConsents.clear();
    for (const id of [...this.active.keys()]) {
      this.active.delete(id);
      this.gate.releaseAll();
      await this.registry.revokeAll(id);
    }
  }

  async close(): Promise<void> {
    for (const id of [...this.active.keys()]) await this.registry.revokeAll(id);
    this.active.clear();
    this.captureConsents.clear();
    await this.injector?.close().catch(() => undefined);
    this.injector = null;
  }

  readonly handlers: BridgeHandlers = {
    'policy.get': () => ({
      brokerUrl: this.rendererBrokerUrl,
      organisation: this.opts.policy?.organisation ?? null,
      deniedCapabilities: this.deniedCapabilities(),
      controlPromptSeconds: this.guard.controlPromptSeconds() ?? this.opts.policy?.controlPromptSeconds ?? 30,
      panicChord: this.opts.policy?.panicChord ?? false,
      ...this.guard.view(),
    }),
    'device.publicJwk': () => this.device.publicJwk,
    'device.dpopProof': ({ htm, htu, accessToken }) => {
      const u = new URL(htu);
      const pinned = new URL(this.rendererBrokerUrl);
      if (u.origin !== pinned.origin || !u.pathname.startsWith('/api/v1/') || u.search || u.hash) {
        throw new Error('proofs are made only for the pinned broker API');
      }
      this.guard.assertProofAllowed(u.pathname);
      return this.device.dpop(htm, htu, accessToken);
    },
    'device.nonceProof': ({ nonce, token }) => this.device.nonceProof(nonce, token),
    'offer.verify': async ({ offer }) => {
      const view = await this.verifyOffer(offer);
      this.verifiedOffers.set(sha256b64url(offer), view);
      return view;
    },
    'consent.receipt': async ({ offer, decision }) => {
      // Only an offer this process checked itself can be answered, and only with what consent covers.
      this.guard.assertUsable();
      const view = this.verifiedOffers.get(sha256b64url(offer)) ?? (await this.verifyOffer(offer));
      const denied = new Set<Capability>(this.deniedCapabilities());
      const accepted = decision === 'accept' ? view.consent_covers.filter((c) => CONSENT_CAPABILITIES.includes(c) && !denied.has(c)) : [];
      const receipt = await this.device.sign('chaperone-consent+jwt', { sid: view.sid, offer_hash: sha256b64url(offer), decision, accepted_capabilities: accepted });
      if (accepted.includes('view')) this.captureConsents.set(view.sid, this.clock.now());
      else this.captureConsents.delete(view.sid);
      return { sid: view.sid, receipt };
    },
    'extension.receipt': ({ sessionId, extensionId, newExpiresAt }) => {
      if (!this.active.has(sessionId)) throw new Error('no such active session');
      // The machine's maximum is a floor no remote party lowers: no receipt for a longer session.
      this.guard.checkSessionEnd(sessionId, this.clock.now(), newExpiresAt);
      this.extensionConsents.add(sessionId);
      return this.device.sign('chaperone-extension+jwt', { sid: sessionId, extension_id: extensionId, decision: 'accept' });
    },
    'session.open': ({ sessionId, expiresAt }) => {
      this.guard.checkSessionEnd(sessionId, this.clock.now(), expiresAt);
      this.registry.openSession(sessionId, expiresAt);
      this.active.set(sessionId, expiresAt);
      return { ok: true as const };
    },
    'session.setExpiry': ({ sessionId, expiresAt }) => {
      this.guard.checkSessionEnd(sessionId, this.clock.now(), expiresAt);
      const before = this.active.get(sessionId);
      this.registry.setSessionExpiry(sessionId, expiresAt);
      // A later end stretches the live grants only when the end user agreed to it on this machine.
      if (before !== undefined && expiresAt > before && this.extensionConsents.delete(sessionId)) this.registry.extendSession(sessionId, expiresAt);
      if (this.active.has(sessionId)) this.active.set(sessionId, expiresAt);
      return { ok: true as const };
    },
    'grants.acquire': async ({ sessionId, kind }) => {
      if (this.guard.view().managed?.status === 'invalid') return { ok: false as const, reason: 'machine_policy_invalid' };
      if (!this.active.has(sessionId)) return { ok: false as const, reason: 'unknown_session' };
      if (this.deniedCapabilities().includes(kind as Capability)) return { ok: false as const, reason: 'denied_by_policy' };
      if (kind === 'clipboard' || kind === 'files') return { ok: false as const, reason: 'not_supported' };
      if (kind === 'control') {
        try {
          await this.ensureInjector();
        } catch (err) {
          this.opts.onError?.(err);
          return { ok: false as const, reason: 'injection_unavailable' };
        }
      }
      const expiresAt = this.sessionExpiry(sessionId);
      // The bridge method exists for the end user's own click on Accept or Allow; nothing else calls it.
      const r = this.registry.acquire(sessionId, kind, { userAction: true, expiresAt, revoke: () => this.revokeResource(kind) });
      return r.ok ? { ok: true as const, expiresAt: r.grant.expiresAt } : { ok: false as const, reason: r.reason };
    },
    'grants.revoke': async ({ kind }) => ({ revoked: await this.registry.revoke(kind, 'user') }),
    'grants.revokeAll': async ({ sessionId }) => {
      this.active.delete(sessionId);
      this.extensionConsents.delete(sessionId);
      this.captureConsents.delete(sessionId);
      this.guard.sessionEnded(sessionId);
      this.gate.releaseAll();
      return { revoked: await this.registry.revokeAll(sessionId) };
    },
    'staff.saveRefreshToken': async ({ token }) => {
      if (!this.opts.secrets || !this.guard.view().analystMode) return { stored: false };
      await this.opts.secrets.set('analyst-refresh-token', token);
      return { stored: true };
    },
    'staff.loadRefreshToken': async () => {
      if (!this.opts.secrets || !this.guard.view().analystMode) return { token: null };
      try {
        return { token: await this.opts.secrets.get('analyst-refresh-token') };
      } catch (err) {
        // Undecryptable (a reset keychain): the analyst signs in again; the stale file goes.
        this.opts.onError?.(err);
        await this.opts.secrets.delete('analyst-refresh-token');
        return { token: null };
      }
    },
    'staff.forgetRefreshToken': async () => {
      await this.opts.secrets?.delete('analyst-refresh-token');
      return { ok: true as const };
    },
    'grants.list': () => this.registry.grants().map((g) => ({ sessionId: g.sessionId, kind: g.kind, expiresAt: g.expiresAt })),
    'input.deliver': ({ sessionId, data, channel }) => this.gate.handle(sessionId, data, channel),
  };

  /** The machine's own list and the administrator's, together: either can only take away. */
  private deniedCapabilities(): Capability[] {
    return [...new Set([...(this.opts.policy?.deniedCapabilities ?? []), ...this.guard.deniedCapabilities()])];
  }

  private sessionExpiry(sessionId: string): number {
    // The registry clamps every grant to its session's end as well.
    return this.active.get(sessionId) ?? this.clock.now();
  }

  private revokeResource(kind: GrantKind): void {
    // Capture is the renderer's MediaStream: the grant.revoked event makes it stop the tracks.
    if (kind === 'control') this.injector?.releaseAll();
  }

  private mustInjector(): Injector {
    if (!this.injector) throw new Error('no input injector');
    return this.injector;
  }

  private async ensureInjector(): Promise<Injector> {
    if (this.injector) return this.injector;
    if (!this.opts.createInjector) throw new Error('input injection is not available on this machine');
    this.injectorPromise ??= this.opts.createInjector().catch((err: unknown) => {
      this.injectorPromise = null;
      throw err;
    });
    this.injector = await this.injectorPromise;
    return this.injector;
  }

  private async keys(force: boolean): Promise<ReturnType<typeof createLocalJWKSet>> {
    if (this.jwks && !force && this.clock.now() - this.jwks.at < 60_000) return this.jwks.set;
    const set = createLocalJWKSet((await this.fetchJwks()) as JSONWebKeySet);
    this.jwks = { set, at: this.clock.now() };
    return set;
  }

  private async fetchJwks(): Promise<unknown> {
    const res = await this.fetch(`${this.opts.brokerUrl}/.well-known/jwks.json`);
    if (!res.ok) throw new Error(`the broker's keys are unavailable (${res.status})`);
    return res.json();
  }

  private async verifyOffer(offer: string): Promise<OfferView> {
    const verifyOptions = {
      algorithms: ['EdDSA'],
      typ: 'chaperone-offer+jwt',
      audience: 'chaperone-client',
      issuer: this.opts.issuer ?? 'chaperone-broker',
      currentDate: new Date(this.clock.now()),
    };
    const check = async (force: boolean) => jwtVerify(offer, await this.keys(force), verifyOptions);
    let payload: Record<string, unknown>;
    const pinned = await this.guard.verifyPinned(offer, () => this.fetchJwks(), verifyOptions);
    if (pinned) payload = pinned;
    else {
      try {
        payload = (await check(false)).payload;
      } catch {
        // A rotated key is not in a cached set yet: one fresh fetch, then give up.
        payload = (await check(true)).payload;
      }
    }
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    if (cnf?.jkt !== this.device.jkt) throw new Error('this offer was made for another device');
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
      exp: payload.exp,
      iat: payload.iat,
    });
    this.guard.checkOffer(view);
    return view;
  }

  private async reportRecovered(): Promise<void> {
    const bySession = new Map<string, Set<GrantKind>>();
    for (const r of this.recovered) if (r.sessionId) (bySession.get(r.sessionId) ?? bySession.set(r.sessionId, new Set()).get(r.sessionId)!).add(r.kind);
    for (const [sessionId, kinds] of bySession) {
      const url = `${this.opts.brokerUrl}/api/v1/join/teardown-report`;
      await this.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', dpop: await this.device.dpop('POST', url) },
        body: JSON.stringify({ session_id: sessionId, revoked: [...kinds], after_crash: true }),
      });
    }
  }

  private emit<E extends BridgeEvent>(event: E, payload: BridgeEventPayload<E>): void {
    for (const l of this.listeners) {
      try {
        l(event, payload);
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
  }
}

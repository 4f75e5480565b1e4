import path from 'node:path';
import type { Capability } from '../common/capabilities.js';
import type { BridgeEvent, BridgeEventPayload, BridgeHandlers, PolicyView } from '../common/bridge/api.js';
import { systemClock, type Clock } from './clock.js';
import { reportRecoveredGrants } from './crash-report.js';
import { DeviceKeyService } from './device-key.js';
import { FileGrantJournal, recoverAfterCrash, type RecoveredGrant } from './grant-journal.js';
import { GrantRegistry, type GrantKind } from './grants.js';
import type { Injector } from './injector.js';
import { InputGate } from './input-gate.js';
import { LazyInjector } from './lazy-injector.js';
import { MachinePolicyGuard } from './machine-policy/guard.js';
import type { MachinePolicyResult } from './machine-policy/index.js';
import { OfferVerifier } from './offer-verifier.js';
import { Receipts } from './receipts.js';
import type { SecretStore } from './secret-store.js';

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

type Emit = <E extends BridgeEvent>(event: E, payload: BridgeEventPayload<E>) => void;

/**
 * The end user's (and the analyst's) main-process services behind the bridge: the device key, the
 * grant registry with its crash journal, the input gate and the injector, the check of the
 * broker's signed offer and the receipts that answer it. Electron's composition root
 * (main/electron/) and the browser test host (main/browser-host/) both serve exactly these
 * handlers, through `dispatchBridgeCall`.
 */
export class MainServices {
  readonly registry: GrantRegistry;
  readonly gate: InputGate;
  /** Origin of the broker as the renderer sees it; proofs are made for nothing else. */
  rendererBrokerUrl: string;
  /** Sessions open on this machine and their end, as the broker decided it. */
  private readonly active = new Map<string, number>();
  /** Sessions torn down here and what their teardown revoked (what the signed report says). */
  private readonly tornDown = new Map<string, GrantKind[]>();
  private readonly listeners = new Set<Emit>();
  private readonly injector: LazyInjector;
  private readonly offers: OfferVerifier;
  private readonly receipts: Receipts;
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
    this.injector = new LazyInjector(opts.createInjector);
    this.offers = new OfferVerifier({ brokerUrl: this.opts.brokerUrl, issuer: opts.issuer, clock: this.clock, fetch: this.fetch, guard: this.guard, deviceJkt: device.jkt });
    this.receipts = new Receipts({
      device,
      offers: this.offers,
      guard: this.guard,
      clock: this.clock,
      deniedCapabilities: () => this.deniedCapabilities(),
      isSessionActive: (id) => this.active.has(id),
    });
    this.gate = new InputGate({
      grants: this.registry,
      isSessionActive: (id) => this.active.has(id),
      injector: this.injector.proxy,
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
    await reportRecoveredGrants(s.recovered, { brokerUrl: s.opts.brokerUrl, fetch: s.fetch, device }).catch((err: unknown) => opts.onError?.(err));
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
    return this.receipts.captureConsented((sid) => this.active.has(sid) && this.registry.grants().some((g) => g.sessionId === sid && g.kind === 'capture'));
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
    this.receipts.forgetAll();
    for (const id of [...this.active.keys()]) {
      this.active.delete(id);
      this.gate.releaseAll();
      await this.registry.revokeAll(id);
    }
  }

  async close(): Promise<void> {
    for (const id of [...this.active.keys()]) await this.registry.revokeAll(id);
    this.active.clear();
    this.receipts.forgetCaptureConsents();
    await this.injector.close();
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
    'offer.verify': ({ offer }) => this.offers.verify(offer),
    // Only an offer this process checked itself can be answered, and only with what consent covers.
    'consent.receipt': ({ offer, decision }) => this.receipts.consent(offer, decision),
    'extension.receipt': ({ sessionId, extensionId, newExpiresAt }) => this.receipts.extension(sessionId, extensionId, newExpiresAt),
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
      if (before !== undefined && expiresAt > before && this.receipts.takeExtensionConsent(sessionId)) this.registry.extendSession(sessionId, expiresAt);
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
          await this.injector.ensure();
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
      this.receipts.forgetSession(sessionId);
      this.guard.sessionEnded(sessionId);
      this.gate.releaseAll();
      const revoked = await this.registry.revokeAll(sessionId);
      // What the teardown report will say: main's own record, not whatever the page would claim.
      this.tornDown.set(sessionId, [...new Set([...(this.tornDown.get(sessionId) ?? []), ...revoked])]);
      return { revoked };
    },
    'teardown.receipt': async ({ sessionId }) => {
      const revoked = this.tornDown.get(sessionId);
      if (!revoked) throw new Error('no session was torn down here with that id');
      return this.receipts.teardown(sessionId, revoked, false);
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
    if (kind === 'control') this.injector.releaseAll();
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

import os from 'node:os';
import path from 'node:path';
import type { Capability } from '../common/capabilities.js';
import { allowsWay, type GrantDirection } from '../common/grant-direction.js';
import type { ControlRefusal } from '../common/control/refusals.js';
import type { BridgeEvent, BridgeEventPayload, BridgeHandlers, PolicyView } from '../common/bridge/api.js';
import { systemClock, type Clock } from './clock.js';
import { postTeardownReport, reportRecoveredGrants } from './crash-report.js';
import { DeviceKeyService } from './device-key.js';
import { FileGrantJournal, recoverAfterCrash, type RecoveredGrant } from './grant-journal.js';
import { FileReceiver } from './files/receiver.js';
import type { ClipboardPort } from './clipboard/port.js';
import { ClipboardWatch } from './clipboard/watch.js';
import { ImageAssembler, imagePieces } from '../common/clipboard/protocol.js';
import { GrantRegistry, type GrantKind } from './grants.js';
import { refusalOf, type Injector } from './injector.js';
import { InputGate } from './input-gate.js';
import { LazyInjector } from './lazy-injector.js';
import { SsoDesktop } from './sso-desktop.js';
import { MachinePolicyGuard } from './machine-policy/guard.js';
import type { MachinePolicyResult } from './machine-policy/index.js';
import { OfferVerifier } from './offer-verifier.js';
import { Receipts } from './receipts.js';
import { TranscriptBuffer } from './transcript.js';
import { TranscriptAckSchema } from '../common/recording.js';
import type { SecretStore } from './secret-store.js';
import { PresenceTranscript } from './presence-transcript.js';
import type { DesktopNotifier } from './notifier.js';
import { inDeskOrder, viewOf, type DisplayPort, type SharedDisplay } from './displays.js';

export interface MainServicesOptions {
  /** The pinned broker, reached from the main process (JWKS, crash reports). */
  brokerUrl: string;
  /** Where grant journal and device key live (0700). */
  dataDir: string;
  /** Makes the input injector when control is first granted; without it control is refused. */
  createInjector?: () => Promise<Injector>;
  /** Why screen sharing cannot work here (macOS Screen Recording off), checked when capture is granted. */
  captureRefusal?: () => ControlRefusal | null;
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
  /** Where received files land (the end user's Downloads folder by default). */
  receiveFolder?: string;
  /** The largest file this machine accepts (2 GiB by default). */
  maxFileBytes?: number;
  /** The end user's system clipboard; without it a clipboard grant syncs nothing. */
  clipboard?: ClipboardPort;
  /**
   * Opens an address in the system browser (Electron's shell.openExternal), for single sign-on
   * at the identity provider (main/sso-desktop.ts). Without it the page goes to the provider itself.
   */
  openExternal?: (url: string) => Promise<void>;
  /** Desktop notifications for staff (Electron's Notification); without it the page notifies by itself. */
  notifier?: DesktopNotifier;
  /** The displays this machine can share (main/displays.ts); without it the whole desktop is shared. */
  displays?: DisplayPort;
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
  readonly files: FileReceiver;
  readonly clipboard: ClipboardWatch | null;
  /** Origin of the broker as the renderer sees it; proofs are made for nothing else. */
  rendererBrokerUrl: string;
  /** Sessions open on this machine and their end, as the broker decided it. */
  private readonly active = new Map<string, number>();
  /**
   * Which page (bridge connection) opened each session, where a host serves several pages at
   * once (the browser host: the end user's and staff pages). Its grants go when that page goes.
   */
  private readonly owners = new Map<string, string>();
  /** Sessions opened on this machine, and those whose teardown report has been signed (once each). */
  private readonly opened = new Set<string>();
  private readonly reported = new Set<string>();
  private readonly listeners = new Set<Emit>();
  private readonly injector: LazyInjector;
  private readonly offers: OfferVerifier;
  private readonly receipts: Receipts;
  private readonly clock: Clock;
  private readonly fetch: typeof fetch;
  private readonly guard: MachinePolicyGuard;
  /** The way each live clipboard or files grant lets data go, as the end user allowed it. */
  private readonly directions = new Map<GrantKind, GrantDirection>();
  private readonly transcript = new TranscriptBuffer();
  private readonly presence = new PresenceTranscript((sid, e) => this.transcript.add(sid, e), () => this.clock.now());
  /** A picture from the analyst coming in pieces, per session. */
  private readonly imageIn = new Map<string, ImageAssembler>();
  private readonly sso: SsoDesktop;
  /** The display the end user chose or the browser's picker gave: the one shared, the one input lands on. */
  private chosen: SharedDisplay | null = null;

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
    this.sso = new SsoDesktop({ openExternal: opts.openExternal, brokerUrl: () => this.opts.brokerUrl, fetch: (...a) => this.fetch(...a) });
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
      onTranscript: (sessionId, entry) => this.transcript.add(sessionId, entry),
    });
    this.files = new FileReceiver({
      folder: opts.receiveFolder ?? path.join(os.homedir(), 'Downloads'),
      maxBytes: opts.maxFileBytes,
      allowed: (sid) => this.allows('files', sid, 'to_end_user'),
    });
    this.clipboard = opts.clipboard
      ? new ClipboardWatch({
          port: opts.clipboard,
          allows: (sid, way) => this.allows('clipboard', sid, way),
          images: (sid) => this.receipts.clipboardImages(sid),
          onChange: (sessionId, change) => {
            if (!('image' in change)) return this.emit('clipboard.changed', { sessionId, ...change });
            for (const piece of imagePieces(change.image.type, change.image.bytes)) this.emit('clipboard.changed', { sessionId, image: piece });
          },
          onSynced: (sessionId, way, length, type) =>
            this.transcript.add(sessionId, { t: this.clock.now(), kind: way === 'to_end_user' ? 'clipboard_to_end_user' : 'clipboard_from_end_user', count: length, ...(type === 'text' ? {} : { why: type }) }),
          onError: opts.onError,
        })
      : null;
    this.registry.onRevoked((g, reason) => {
      // Before anything else: not one more read of the clipboard once its grant is gone.
      if (g.kind === 'clipboard') {
        this.clipboard?.stop(g.sessionId);
        this.imageIn.delete(g.sessionId);
      }
      this.directions.delete(g.kind);
      if (g.kind === 'control') this.transcript.add(g.sessionId, { t: this.clock.now(), kind: 'control_revoked', why: reason });
      // The files grant went: every transfer stops now, both ways, and a partial file here is deleted.
      if (g.kind === 'files') {
        this.files.cancelAll(g.sessionId);
        this.emit('files.stopped', { sessionId: g.sessionId, reason });
      }
      this.emit('grant.revoked', { kind: g.kind, reason });
    });
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

  /** The source getDisplayMedia gets in the desktop app (main/electron/display-media.ts): the chosen one. */
  chosenDisplayId(): string | null {
    return this.chosen?.id ?? null;
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
    for (const id of [...this.active.keys()]) await this.endWithoutPage(id);
  }

  /**
   * Why this machine cannot give `kind` for the session now (policy, platform, no desktop), or
   * null. Asked before the end user's Allow is sent, so the analyst hears the machine's reason with
   * the answer, and again when the grant is switched on.
   */
  private async cannotGrant(sessionId: string, kind: GrantKind, direction?: GrantDirection): Promise<string | null> {
    if (this.guard.view().managed?.status === 'invalid') return 'machine_policy_invalid';
    if (!this.active.has(sessionId)) return 'unknown_session';
    if (this.deniedCapabilities().includes(kind as Capability)) return 'denied_by_policy';
    // A clipboard or files grant without its way would let data go any way: refused.
    if ((kind === 'clipboard' || kind === 'files') !== (direction !== undefined)) return 'bad_direction';
    const noCapture = kind === 'capture' ? this.opts.captureRefusal?.() : null;
    if (noCapture) return noCapture;
    if (kind === 'control') {
      try {
        await this.injector.ensure();
      } catch (err) {
        this.opts.onError?.(err);
        return refusalOf(err);
      }
    }
    return null;
  }

  /**
   * The handlers one page is served, where a host serves several (the browser host): a session
   * belongs to the page that opened it, only that page can acquire grants or deliver input for it,
   * and `pageGone` ends exactly that page's sessions, whatever other pages stay connected.
   */
  handlersFor(page: string): BridgeHandlers {
    const mine = (sessionId: string) => (this.owners.get(sessionId) ?? page) === page;
    return {
      ...this.handlers,
      'session.open': (a) => {
        if (!mine(a.sessionId)) throw new Error('that session belongs to another page');
        const r = this.handlers['session.open'](a);
        this.owners.set(a.sessionId, page);
        return r;
      },
      'grants.check': (a) => (mine(a.sessionId) ? this.handlers['grants.check'](a) : { ok: false as const, reason: 'other_page' }),
      'grants.acquire': (a) => (mine(a.sessionId) ? this.handlers['grants.acquire'](a) : { ok: false as const, reason: 'other_page' }),
      'input.deliver': (a) => (mine(a.sessionId) ? this.handlers['input.deliver'](a) : 'refused_inactive'),
      'files.offer': (a) => (mine(a.sessionId) ? this.handlers['files.offer'](a) : { ok: false as const, reason: 'other_page' }),
      'files.accept': (a) => (mine(a.sessionId) ? this.handlers['files.accept'](a) : { ok: false as const, reason: 'other_page' }),
      'files.refuse': (a) => (mine(a.sessionId) ? this.handlers['files.refuse'](a) : { ok: true as const }),
      'files.write': (a) => (mine(a.sessionId) ? this.handlers['files.write'](a) : { ok: false as const, reason: 'other_page' }),
      'files.finish': (a) => (mine(a.sessionId) ? this.handlers['files.finish'](a) : { ok: false as const, reason: 'other_page' }),
      'files.cancel': (a) => (mine(a.sessionId) ? this.handlers['files.cancel'](a) : { cancelled: false }),
      'clipboard.write': (a) => (mine(a.sessionId) ? this.handlers['clipboard.write'](a) : { ok: false as const, reason: 'other_page' }),
      'transcript.presence': (a) => (mine(a.sessionId) ? this.handlers['transcript.presence'](a) : { written: 0 }),
      'clipboard.writeImage': (a) => (mine(a.sessionId) ? this.handlers['clipboard.writeImage'](a) : { ok: false as const, reason: 'other_page' }),
      'clipboard.terms': (a) => (mine(a.sessionId) ? this.handlers['clipboard.terms'](a) : { images: false }),
      // Where input lands is the sharing page's business: no other page moves it during its session.
      'displays.select': (a) => ([...this.owners].some(([sid, owner]) => owner !== page && this.active.has(sid)) ? { ok: false as const, reason: 'other_page' } : this.handlers['displays.select'](a)),
      'recording.transcriptFlush': (a) => {
        if (!mine(a.sessionId)) throw new Error('that session belongs to another page');
        return this.handlers['recording.transcriptFlush'](a);
      },
      'recording.chunkProof': (a) => {
        if (!mine(a.sessionId)) throw new Error('that session belongs to another page');
        return this.handlers['recording.chunkProof'](a);
      },
    };
  }

  /** A page went away (closed, reloaded, crashed): the sessions it opened end here at once, fail closed. */
  async pageGone(page: string): Promise<void> {
    for (const [id, owner] of [...this.owners]) {
      if (owner !== page) continue;
      this.owners.delete(id);
      if (this.active.has(id)) await this.endWithoutPage(id);
    }
  }

  /**
   * Main ends a session because its page is gone: the page cannot report any more, so main sends
   * the signed teardown report over HTTP itself.
   */
  private async endWithoutPage(id: string): Promise<void> {
    const revoked = await this.endLocally(id);
    if (this.reported.has(id)) return;
    this.reported.add(id);
    await postTeardownReport({ brokerUrl: this.opts.brokerUrl, fetch: this.fetch, device: this.device }, { sessionId: id, revoked, afterCrash: false }).catch((err: unknown) => this.opts.onError?.(err));
  }

  /** Ends one session on this machine: nothing can be acquired for it again, every grant is revoked. */
  private async endLocally(id: string): Promise<GrantKind[]> {
    this.active.delete(id);
    this.receipts.forgetSession(id);
    this.guard.sessionEnded(id);
    this.gate.forget(id);
    this.gate.releaseAll();
    this.clipboard?.stop(id);
    this.imageIn.delete(id);
    // Before anything else can write: a transfer cut by the end leaves no partial file.
    this.files.cancelAll(id);
    const revoked = await this.registry.revokeAll(id);
    // After the revocations, which the transcript would otherwise keep for a session that is gone.
    this.transcript.forget(id);
    this.presence.forget(id);
    return revoked;
  }

  async close(): Promise<void> {
    this.sso.close();
    for (const id of [...this.active.keys()]) await this.endWithoutPage(id);
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
      ssoLoopback: this.sso.available,
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
    'recording.chunkProof': async ({ sessionId, seq, token }) => {
      // Only for a session open here, and only for its own chunk route: not a general proof.
      if (this.guard.view().managed?.status === 'invalid') throw new Error('machine_policy_invalid');
      if (!this.active.has(sessionId)) throw new Error('no such open session on this machine');
      const htu = `${this.rendererBrokerUrl.replace(/\/+$/, '')}/api/v1/sessions/${sessionId}/recording/chunks/${seq}`;
      return { htu, proof: await this.device.dpop('POST', htu, token) };
    },
    'transcript.presence': ({ sessionId, watchers, suspended }) => {
      // Only a session live here has a transcript to write to.
      if (!this.active.has(sessionId)) return { written: 0 };
      return { written: this.presence.update(sessionId, watchers, suspended) };
    },
    'recording.transcriptFlush': async ({ sessionId, token }) => {
      if (!this.opened.has(sessionId)) throw new Error('no such session on this machine');
      const url = `${this.opts.brokerUrl.replace(/\/+$/, '')}/api/v1/sessions/${sessionId}/recording/transcript`;
      let sent = 0;
      for (let batch = this.transcript.take(sessionId); batch; batch = this.transcript.take(sessionId)) {
        const res = await this.fetch(url, {
          method: 'POST',
          headers: { authorization: `DPoP ${token}`, dpop: await this.device.dpop('POST', url, token), 'content-type': 'application/json' },
          body: JSON.stringify(batch),
        });
        // 409 (after the end, not recorded, out of order) will not change by sending it again.
        if (res.status === 409) this.transcript.done(sessionId, batch.seq);
        else if (!res.ok) throw new Error(`the broker answered ${res.status} to transcript batch ${batch.seq}`);
        else {
          TranscriptAckSchema.parse(await res.json());
          this.transcript.done(sessionId, batch.seq);
          sent += batch.entries.length;
        }
      }
      return { sent };
    },
    'offer.verify': ({ offer }) => this.offers.verify(offer),
    // Only an offer this process checked itself can be answered, and only with what consent covers.
    'consent.receipt': ({ offer, decision }) => this.receipts.consent(offer, decision),
    'extension.receipt': ({ sessionId, extensionId, newExpiresAt }) => this.receipts.extension(sessionId, extensionId, newExpiresAt),
    'session.open': ({ sessionId, expiresAt }) => {
      this.guard.checkSessionEnd(sessionId, this.clock.now(), expiresAt);
      this.registry.openSession(sessionId, expiresAt);
      this.active.set(sessionId, expiresAt);
      this.opened.add(sessionId);
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
    'session.interrupted': ({ sessionId }) => {
      // Only a session open here can be locked; an unknown one has nothing to lock.
      if (this.active.has(sessionId)) this.gate.interrupt(sessionId);
      return { ok: true as const };
    },
    'session.resumed': ({ sessionId }) => {
      this.gate.resume(sessionId);
      return { ok: true as const };
    },
    'session.teardownReceipt': ({ sessionId, revoked }) => {
      // Only for a session this machine opened and has ended (its grants are gone), and once:
      // the key does not sign "revoked" for grants that still live, nor a stream of receipts.
      if (!this.opened.has(sessionId) || this.active.has(sessionId)) throw new Error('no such ended session on this machine');
      if (this.reported.has(sessionId)) throw new Error('the teardown report for this session is already signed');
      this.reported.add(sessionId);
      return this.device.teardownReceipt(sessionId, revoked, false);
    },
    'grants.check': async ({ sessionId, kind, direction }) => {
      const refused = await this.cannotGrant(sessionId, kind, direction);
      return refused ? { ok: false as const, reason: refused } : { ok: true as const };
    },
    'grants.acquire': async ({ sessionId, kind, direction }) => {
      const refused = await this.cannotGrant(sessionId, kind, direction);
      if (refused) return { ok: false as const, reason: refused };
      const expiresAt = this.sessionExpiry(sessionId);
      // The bridge method exists for the end user's own click on Accept or Allow; nothing else calls it.
      const r = this.registry.acquire(sessionId, kind, { userAction: true, expiresAt, revoke: () => this.revokeResource(kind) });
      if (r.ok && direction) this.directions.set(kind, direction);
      if (r.ok && kind === 'clipboard') this.clipboard?.start(sessionId);
      if (r.ok && kind === 'control') this.transcript.add(sessionId, { t: this.clock.now(), kind: 'control_granted' });
      return r.ok ? { ok: true as const, expiresAt: r.grant.expiresAt } : { ok: false as const, reason: r.reason };
    },
    'grants.revoke': async ({ kind }) => ({ revoked: await this.registry.revoke(kind, 'user') }),
    'grants.revokeAll': async ({ sessionId }) => {
      this.owners.delete(sessionId);
      return { revoked: await this.endLocally(sessionId) };
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
    'sso.begin': async () => {
      if (!this.guard.view().analystMode) return { ok: false as const, reason: 'no_analyst_mode' };
      return this.sso.begin();
    },
    'sso.open': async ({ url }) => {
      if (!this.guard.view().analystMode) return { ok: false as const, reason: 'no_analyst_mode' };
      return this.sso.open(url);
    },
    'notify.show': (n) => ({ shown: this.guard.view().analystMode && this.opts.notifier ? this.opts.notifier.show(n) : false }),
    'staff.forgetRefreshToken': async () => {
      await this.opts.secrets?.delete('analyst-refresh-token');
      return { ok: true as const };
    },
    'grants.list': () => this.registry.grants().map((g) => ({ sessionId: g.sessionId, kind: g.kind, expiresAt: g.expiresAt })),
    'input.deliver': ({ sessionId, data, channel }) => this.gate.handle(sessionId, data, channel),
    'files.offer': (o) => this.files.offer(o),
    'files.accept': ({ sessionId, id }) => this.files.accept(sessionId, id),
    'files.refuse': ({ sessionId, id }) => {
      this.files.refuse(sessionId, id);
      return { ok: true as const };
    },
    'files.write': ({ sessionId, id, offset, data }) => this.files.write(sessionId, id, offset, Buffer.from(data.buffer, data.byteOffset, data.byteLength)),
    'files.finish': ({ sessionId, id }) => this.files.finish(sessionId, id),
    'files.cancel': ({ sessionId, id }) => ({ cancelled: this.files.cancel(sessionId, id) }),
    'displays.list': async () => {
      const port = this.opts.displays;
      const list = port ? inDeskOrder(await port.list()) : [];
      return { picker: port?.picker ?? 'system', displays: list.slice(0, 16).map((d) => viewOf(list, d)), chosen: this.chosen?.id ?? null };
    },
    'displays.select': async ({ id }) => {
      const list = this.opts.displays ? inDeskOrder(await this.opts.displays.list()) : [];
      const d = list.find((x) => x.id === id);
      if (!d) return { ok: false as const, reason: 'unknown_display' };
      this.chosen = d;
      // One display only: the whole desktop is what is shown, as before there was a choice.
      this.gate.showDisplay(list.length > 1 ? d.rect : null);
      return { ok: true as const, display: viewOf(list, d), count: Math.min(16, list.length) };
    },
    'clipboard.write': async ({ sessionId, text }) => (this.clipboard ? this.clipboard.write(sessionId, text) : { ok: false as const, reason: 'no_clipboard' }),
    'clipboard.writeImage': async ({ sessionId, ...piece }) => {
      if (!this.clipboard) return { ok: false as const, reason: 'no_clipboard' };
      // Refused before a byte is kept: a session that may not share pictures assembles nothing.
      if (!this.clipboard.imagesAllowed(sessionId) || !this.allows('clipboard', sessionId, 'to_end_user')) return { ok: false as const, reason: 'images_not_allowed' };
      let a = this.imageIn.get(sessionId);
      if (!a) this.imageIn.set(sessionId, (a = new ImageAssembler()));
      const whole = a.add(piece);
      if (!whole) return { ok: true as const, written: false };
      const r = await this.clipboard.writeImage(sessionId, whole.type, whole.bytes);
      return r.ok ? { ok: true as const, written: true } : r;
    },
    'clipboard.terms': ({ sessionId }) => ({ images: this.clipboard?.imagesAllowed(sessionId) ?? false }),
  };

  /** The machine's own list and the administrator's, together: either can only take away. */
  private deniedCapabilities(): Capability[] {
    return [...new Set([...(this.opts.policy?.deniedCapabilities ?? []), ...this.guard.deniedCapabilities()])];
  }

  /** Whether a live grant lets clipboard text or files go `way` in this session now (fail closed). */
  allows(kind: 'clipboard' | 'files', sessionId: string, way: 'to_end_user' | 'from_end_user'): boolean {
    return this.active.has(sessionId) && this.registry.isActive(kind, sessionId) && allowsWay(this.directions.get(kind), way);
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

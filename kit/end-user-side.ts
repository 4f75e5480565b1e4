import path from 'node:path';
import type { GrantableCapability } from '../common/capabilities.js';
import { systemClock } from '../main/clock.js';
import { FileGrantJournal } from '../main/grant-journal.js';
import { GrantRegistry } from '../main/grants.js';
import type { Injector } from '../main/injector.js';
import { InputGate } from '../main/input-gate.js';
import type { SessionEngine } from '../renderer/session/engine.js';
import { nodeEngine, type SyntheticScreen } from './node-session.js';
import type { DeviceKey } from './device.js';

/**
 * The end user's machine as the app wires it, minus Electron: the session engine (renderer) feeds
 * every data-channel message to the input gate (main), grants come only from this side's own
 * decisions, and teardown revokes every local grant through the registry.
 */
export class EndUserSide {
  readonly registry: GrantRegistry;
  readonly gate: InputGate;
  readonly engine: SessionEngine;
  /** What the end user answers when the analyst asks for a capability. */
  answer: (capability: string) => boolean = () => false;
  private active = true;

  constructor(
    readonly sessionId: string,
    opts: { device: DeviceKey; brokerUrl: string; token: string; expiresAt: number; iceServers?: { urls: string[]; username?: string; credential?: string }[]; iceTransportPolicy?: 'all' | 'relay'; screen: SyntheticScreen; injector: Injector; dir: string; graceMs?: number },
  ) {
    this.registry = new GrantRegistry({ clock: systemClock, journal: new FileGrantJournal(path.join(opts.dir, `grants-${sessionId}.json`)) });
    this.registry.openSession(sessionId, opts.expiresAt);
    this.gate = new InputGate({ grants: this.registry, isSessionActive: (id) => id === sessionId && this.active, injector: opts.injector });
    // Consent to the session is the end user's click that starts capture.
    const cap = this.registry.acquire(sessionId, 'capture', { userAction: true, expiresAt: opts.expiresAt, revoke: () => opts.screen.track.stop() });
    if (!cap.ok) throw new Error(`capture grant refused: ${cap.reason}`);
    this.engine = nodeEngine(opts.device, {
      role: 'end_user',
      sessionId,
      brokerUrl: opts.brokerUrl,
      token: opts.token,
      expiresAt: opts.expiresAt,
      iceServers: opts.iceServers ?? [],
      iceTransportPolicy: opts.iceTransportPolicy,
      loopback: opts.iceTransportPolicy !== 'relay',
      stream: opts.screen.stream,
      graceMs: opts.graceMs,
      onTeardown: async () => {
        this.active = false;
        return this.registry.revokeAll(sessionId);
      },
    });
    this.engine.on('control', (c) => this.gate.handle(sessionId, c.data, c.channel));
    // As main's gate is told over the bridge in the app: locked while interrupted.
    this.engine.on('controlLocked', (locked) => (locked ? this.gate.interrupt(sessionId) : this.gate.resume(sessionId)));
    // As the app does it: the answer names what was shown, and the grant is switched on locally
    // only when the broker's grant.changed confirms a request this side allowed.
    const allowed = new Map<string, string>();
    this.engine.on('grantRequest', (r) => {
      const cap = r.capability as GrantableCapability;
      const allow = this.answer(r.capability);
      if (allow) allowed.set(r.request_id, cap);
      this.engine.respondGrant(r.request_id, cap, allow, undefined, r.direction ?? undefined);
    });
    this.engine.on('grant', (g) => {
      const cap = g.capability as GrantableCapability;
      if (!g.granted) {
        // The broker says a grant ended (the end user took it back, or the analyst gave it up).
        void this.registry.revoke(cap);
        return;
      }
      if (!g.requestId || allowed.get(g.requestId) !== cap) return this.engine.revokeGrant(cap);
      allowed.delete(g.requestId);
      const r = this.registry.acquire(sessionId, cap, { userAction: true, expiresAt: opts.expiresAt, revoke: () => undefined });
      if (!r.ok) this.engine.revokeGrant(cap);
    });
  }

  /** The end user takes control back. */
  async takeControlBack(): Promise<void> {
    await this.registry.revoke('control');
    this.engine.revokeGrant('control');
  }

  start(): void {
    this.engine.start();
  }
}

import { CONSENT_CAPABILITIES, type Capability } from '../common/capabilities.js';
import type { Clock } from './clock.js';
import type { DeviceKeyService } from './device-key.js';
import type { MachinePolicyGuard } from './machine-policy/guard.js';
import type { OfferVerifier } from './offer-verifier.js';
import { sha256b64url } from './proofs.js';

/** How long an accepted consent waits for its screen capture to start before it lapses. */
const CONSENT_CAPTURE_WINDOW_MS = 60_000;

export interface ReceiptsOptions {
  device: DeviceKeyService;
  offers: OfferVerifier;
  guard: MachinePolicyGuard;
  clock: Clock;
  /** The machine's own list and the administrator's, together. */
  deniedCapabilities: () => Capability[];
  isSessionActive: (sessionId: string) => boolean;
}

/**
 * The end user's signed answers, consent to an offer and agreement to a longer session, and what
 * each leaves behind on this machine: an accepted `view` lets screen capture start for a minute,
 * and an extension receipt lets the next later end stretch the live grants, once.
 */
export class Receipts {
  /** Sessions whose offer the end user accepted with screen viewing, and when. */
  private readonly captureConsents = new Map<string, number>();
  /** Sessions whose end user signed an extension receipt here that has not moved the end yet. */
  private readonly extensionConsents = new Set<string>();
  /** Sessions accepted here whose offer lets pictures through the clipboard, this machine's policy permitting. */
  private readonly clipboardImageSessions = new Set<string>();

  constructor(private readonly opts: ReceiptsOptions) {}

  /** Answers an offer this process checked itself, accepting only what consent covers and policy allows. */
  async consent(offer: string, decision: 'accept' | 'decline'): Promise<{ sid: string; receipt: string }> {
    this.opts.guard.assertUsable();
    const view = await this.opts.offers.checked(offer);
    const denied = new Set<Capability>(this.opts.deniedCapabilities());
    const accepted = decision === 'accept' ? view.consent_covers.filter((c) => CONSENT_CAPABILITIES.includes(c) && !denied.has(c)) : [];
    // Accepting repeats whether the session is recorded, as the offer said: it is part of what was agreed.
    const receipt = await this.opts.device.sign('chaperone-consent+jwt', { sid: view.sid, offer_hash: sha256b64url(offer), decision, accepted_capabilities: accepted, ...(decision === 'accept' ? { recording: view.recording } : {}) });
    if (accepted.includes('view')) this.captureConsents.set(view.sid, this.opts.clock.now());
    else this.captureConsents.delete(view.sid);
    // What the end user agreed to: pictures only when the signed offer said so, and the machine allows them.
    if (decision === 'accept' && view.clipboard_images === true && !this.opts.guard.clipboardImagesDenied()) this.clipboardImageSessions.add(view.sid);
    else this.clipboardImageSessions.delete(view.sid);
    return { sid: view.sid, receipt };
  }

  /** The end user agreed to a longer session; the machine's maximum is a floor no remote party lowers. */
  extension(sessionId: string, extensionId: string, newExpiresAt: number): Promise<string> {
    if (!this.opts.isSessionActive(sessionId)) throw new Error('no such active session');
    this.opts.guard.checkSessionEnd(sessionId, this.opts.clock.now(), newExpiresAt);
    this.extensionConsents.add(sessionId);
    return this.opts.device.sign('chaperone-extension+jwt', { sid: sessionId, extension_id: extensionId, decision: 'accept' });
  }

  /** Uses up the session's extension agreement: true when the end user signed one here. */
  takeExtensionConsent(sessionId: string): boolean {
    return this.extensionConsents.delete(sessionId);
  }

  /**
   * Whether screen capture may start now: an accepted offer covering `view` within the last
   * minute, or a session of those that still holds the capture grant (to switch screens).
   */
  captureConsented(holdsCapture: (sessionId: string) => boolean): boolean {
    const now = this.opts.clock.now();
    for (const [sid, at] of this.captureConsents) {
      if (now - at <= CONSENT_CAPTURE_WINDOW_MS && now >= at) return true;
      if (holdsCapture(sid)) return true;
    }
    return false;
  }

  /** Whether pictures may go through the clipboard in this session (text only otherwise). */
  clipboardImages(sessionId: string): boolean {
    return this.clipboardImageSessions.has(sessionId);
  }

  forgetSession(sessionId: string): void {
    this.clipboardImageSessions.delete(sessionId);
    this.extensionConsents.delete(sessionId);
    this.captureConsents.delete(sessionId);
  }

  forgetCaptureConsents(): void {
    this.captureConsents.clear();
  }

  forgetAll(): void {
    this.captureConsents.clear();
    this.extensionConsents.clear();
  }
}

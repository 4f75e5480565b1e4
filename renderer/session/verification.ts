import type { SessionRole } from '../../common/roles.js';
import { newSasSecret, revealMatches, sasCommitment, sdpFingerprint, shortAuthString } from '../../common/sas.js';

export type VerificationStep =
  | { kind: 'none' }
  | { kind: 'reveal'; value: string }
  | { kind: 'code'; sas: string }
  | { kind: 'failed'; why: string };

/**
 * One side's part of the six-digit code (docs/session-protocol.md): a fresh value committed to
 * first, revealed only once the DTLS transport is up, our commitment has gone out and the peer's
 * has arrived; the peer's reveal checked against its commitment; then the digits from both
 * fingerprints and both values. A commitment that changes, or a reveal that does not match,
 * fails the session.
 */
export class Verification {
  private readonly secret = newSasSecret();
  private commitment: string | null = null;
  private committed = false;
  private peerCommitment: string | null = null;
  private peerValue: string | null = null;
  private transportUp = false;
  private revealed = false;
  private done = false;

  constructor(private readonly role: SessionRole) {}

  private get peerRole(): SessionRole {
    return this.role === 'end_user' ? 'analyst' : 'end_user';
  }

  /** Computed once, before signaling starts, so the commitment can go out first. */
  async prepare(): Promise<string> {
    this.commitment ??= await sasCommitment(this.role, this.secret);
    return this.commitment;
  }

  /** The frame to send whenever the peer comes online (the same each time). */
  commitFrame(): { kind: 'sas-commit'; commitment: string } | null {
    if (!this.commitment) return null;
    this.committed = true;
    return { kind: 'sas-commit', commitment: this.commitment };
  }

  onPeerCommitment(c: string): VerificationStep {
    if (this.peerCommitment !== null && this.peerCommitment !== c) return { kind: 'failed', why: 'the other side’s commitment changed' };
    this.peerCommitment = c;
    return { kind: 'none' };
  }

  /** The DTLS transport is connected (simple-peer's connect). */
  onTransportUp(): void {
    this.transportUp = true;
  }

  /** The peer's reveal; checked once the commitment is there (it is, for an honest peer). */
  onPeerReveal(value: string): VerificationStep {
    if (this.peerValue !== null && this.peerValue !== value) return { kind: 'failed', why: 'the other side revealed two values' };
    this.peerValue = value;
    return { kind: 'none' };
  }

  /** After each step: the code once everything is in, or why it failed. */
  async result(pc: RTCPeerConnection): Promise<VerificationStep> {
    if (this.done || this.peerValue === null || this.peerCommitment === null || !this.revealed) return { kind: 'none' };
    if (!(await revealMatches(this.peerRole, this.peerValue, this.peerCommitment))) {
      this.done = true;
      return { kind: 'failed', why: 'the other side’s value does not match its commitment' };
    }
    const local = pc.localDescription?.sdp ? sdpFingerprint(pc.localDescription.sdp) : null;
    const remote = pc.remoteDescription?.sdp ? sdpFingerprint(pc.remoteDescription.sdp) : null;
    if (!local || !remote) return { kind: 'none' };
    this.done = true;
    const mine = { fp: local, secret: this.secret };
    const theirs = { fp: remote, secret: this.peerValue };
    const [eu, an] = this.role === 'end_user' ? [mine, theirs] : [theirs, mine];
    return { kind: 'code', sas: await shortAuthString({ endUserFingerprint: eu.fp, analystFingerprint: an.fp, endUserSecret: eu.secret, analystSecret: an.secret }) };
  }

  /** Our value, once it is time: the transport is up, ours went out and theirs has arrived. */
  revealIfReady(): VerificationStep {
    if (this.revealed || !this.transportUp || !this.committed || this.peerCommitment === null) return { kind: 'none' };
    return { kind: 'reveal', value: this.secret };
  }

  /** The reveal went out (the channel took it); until then it is tried again at the next step. */
  markRevealed(): void {
    this.revealed = true;
  }
}

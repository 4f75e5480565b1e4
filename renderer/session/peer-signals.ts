import type SimplePeer from 'simple-peer';
import { missingCase } from '../../common/missing-case.js';
import type { SignalPayload } from '../../common/protocol/signaling.js';

/** Keeps only the ICE candidates this returns true for (tests pin loopback). */
export type CandidateFilter = (candidate: string) => boolean;

/**
 * The broker relays WebRTC negotiation as `signal` payloads (common/protocol/signaling.ts);
 * simple-peer speaks its own signal objects. These translate one into the other. A candidate the
 * filter refuses is dropped in both directions: never sent, never applied.
 */
export function toPeerSignal(p: SignalPayload, keep?: CandidateFilter): SimplePeer.SignalData | null {
  switch (p.kind) {
    case 'offer':
    case 'answer':
      return { type: p.kind, sdp: p.sdp };
    case 'candidate':
      if (keep && !keep(p.candidate)) return null;
      return { type: 'candidate', candidate: { candidate: p.candidate, sdpMid: p.sdpMid ?? null, sdpMLineIndex: p.sdpMLineIndex ?? null } } as never;
    case 'renegotiate':
      return { type: 'renegotiate', renegotiate: true } as never;
    case 'sas-commit':
      // The verification code's commitment is not WebRTC negotiation: not for simple-peer.
      return null;
    default:
      return missingCase(p);
  }
}

export function fromPeerSignal(d: SimplePeer.SignalData, keep?: CandidateFilter): SignalPayload | null {
  const any = d as { type?: string; sdp?: string; candidate?: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }; renegotiate?: boolean };
  if (any.type === 'offer' || any.type === 'answer') return { kind: any.type, sdp: any.sdp ?? '' };
  if (any.candidate) {
    if (keep && !keep(any.candidate.candidate)) return null;
    return { kind: 'candidate', candidate: any.candidate.candidate, sdpMid: any.candidate.sdpMid ?? null, sdpMLineIndex: any.candidate.sdpMLineIndex ?? null };
  }
  if (any.renegotiate) return { kind: 'renegotiate' };
  return null;
}

/** simple-peer's sdpTransform: candidates inside an offer or answer go through the same filter. */
export function sdpCandidateTransform(keep?: CandidateFilter): (sdp: string) => string {
  if (!keep) return (sdp) => sdp;
  return (sdp) =>
    sdp
      .split('\r\n')
      .filter((l) => !l.startsWith('a=candidate:') || keep(l.slice(2)))
      .join('\r\n');
}

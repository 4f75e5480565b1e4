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
      return { type: 'candidate', candidate: candidateInit(p) } as never;
    case 'renegotiate':
      return { type: 'renegotiate', renegotiate: true } as never;
    case 'sas-commit':
      // The session engine's own, not negotiation.
      return null;
    default:
      return missingCase(p);
  }
}

/**
 * Both fields are optional on the wire. WebRTC refuses a candidate with neither, so one that
 * names neither belongs to the first m-section: with BUNDLE (which both sides negotiate) that
 * section's transport carries everything.
 */
export function candidateInit(p: Extract<SignalPayload, { kind: 'candidate' }>): RTCIceCandidateInit {
  // Absent rather than null: some stacks (@roamhq/wrtc) refuse a null field that the browser takes.
  const init: RTCIceCandidateInit = { candidate: p.candidate };
  if (typeof p.sdpMid === 'string') init.sdpMid = p.sdpMid;
  if (typeof p.sdpMLineIndex === 'number') init.sdpMLineIndex = p.sdpMLineIndex;
  if (init.sdpMid === undefined && init.sdpMLineIndex === undefined) init.sdpMLineIndex = 0;
  return init;
}

export function fromPeerSignal(d: SimplePeer.SignalData, keep?: CandidateFilter): SignalPayload | null {
  const any = d as { type?: string; sdp?: string; candidate?: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }; renegotiate?: boolean };
  if (any.type === 'offer' || any.type === 'answer') return { kind: any.type, sdp: any.sdp ?? '' };
  if (any.candidate) {
    if (keep && !keep(any.candidate.candidate)) return null;
    const { candidate, sdpMid, sdpMLineIndex } = any.candidate;
    return { kind: 'candidate', candidate, ...(typeof sdpMid === 'string' ? { sdpMid } : {}), ...(typeof sdpMLineIndex === 'number' ? { sdpMLineIndex } : {}) };
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

import { describe, expect, it } from 'vitest';
import type { SignalPayload } from '../../common/protocol/signaling.js';
import { fromPeerSignal, sdpCandidateTransform, toPeerSignal } from '../../renderer/session/peer-signals.js';

const loopbackOnly = (c: string) => c.includes(' 127.0.0.1 ');
const LOOP = 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host';
const LAN = 'candidate:2 1 udp 2122260223 192.168.1.20 50001 typ host';

describe('negotiation between simple-peer and the broker’s signal payloads', () => {
  it('every payload kind survives the trip to simple-peer and back', () => {
    const payloads: SignalPayload[] = [
      { kind: 'offer', sdp: 'v=0\r\n' },
      { kind: 'answer', sdp: 'v=0\r\n' },
      { kind: 'candidate', candidate: LOOP, sdpMid: '0', sdpMLineIndex: 0 },
      { kind: 'renegotiate' },
    ];
    for (const p of payloads) expect(fromPeerSignal(toPeerSignal(p)!)).toEqual(p);
  });

  it('a candidate the filter refuses is neither sent nor applied, and is cut out of the SDP', () => {
    expect(toPeerSignal({ kind: 'candidate', candidate: LAN }, loopbackOnly)).toBeNull();
    expect(toPeerSignal({ kind: 'candidate', candidate: LOOP }, loopbackOnly)).not.toBeNull();
    expect(fromPeerSignal({ type: 'candidate', candidate: { candidate: LAN, sdpMid: '0', sdpMLineIndex: 0 } } as never, loopbackOnly)).toBeNull();
    const sdp = ['v=0', `a=${LOOP}`, `a=${LAN}`, 'a=end-of-candidates'].join('\r\n');
    expect(sdpCandidateTransform(loopbackOnly)(sdp)).toBe(['v=0', `a=${LOOP}`, 'a=end-of-candidates'].join('\r\n'));
    expect(sdpCandidateTransform()(sdp)).toBe(sdp);
  });

  it('a candidate with neither sdpMid nor sdpMLineIndex (both optional) goes to the first m-section; null counts as absent', () => {
    const init = (p: SignalPayload) => (toPeerSignal(p) as unknown as { candidate: RTCIceCandidateInit }).candidate;
    expect(init({ kind: 'candidate', candidate: LOOP })).toEqual({ candidate: LOOP, sdpMLineIndex: 0 });
    expect(init({ kind: 'candidate', candidate: LOOP, sdpMid: null, sdpMLineIndex: null })).toEqual({ candidate: LOOP, sdpMLineIndex: 0 });
    expect(init({ kind: 'candidate', candidate: LOOP, sdpMid: '1' })).toEqual({ candidate: LOOP, sdpMid: '1' });
    expect(init({ kind: 'candidate', candidate: LOOP, sdpMLineIndex: 2 })).toEqual({ candidate: LOOP, sdpMLineIndex: 2 });
    // What this side sends leaves out what it does not know, rather than writing null.
    expect(fromPeerSignal({ type: 'candidate', candidate: { candidate: LOOP, sdpMid: null, sdpMLineIndex: null } } as never)).toEqual({ kind: 'candidate', candidate: LOOP });
  });

  it('what simple-peer emits that is no negotiation is not relayed', () => {
    expect(fromPeerSignal({ type: 'transceiverRequest', transceiverRequest: { kind: 'video' } } as never)).toBeNull();
  });
});

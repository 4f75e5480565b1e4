import type { SessionRole } from '../../common/roles.js';
import { sdpFingerprint, shortAuthString } from '../../common/sas.js';

/**
 * The six-digit code both people read out: derived from both DTLS fingerprints, the end user's
 * first on both sides, so a man in the middle (two DTLS sessions, four fingerprints) gives the two
 * sides different digits. Null until both descriptions are there.
 */
export async function verificationCode(pc: RTCPeerConnection, role: SessionRole): Promise<string | null> {
  const local = pc.localDescription?.sdp ? sdpFingerprint(pc.localDescription.sdp) : null;
  const remote = pc.remoteDescription?.sdp ? sdpFingerprint(pc.remoteDescription.sdp) : null;
  if (!local || !remote) return null;
  const [endUser, analyst] = role === 'end_user' ? [local, remote] : [remote, local];
  return shortAuthString(endUser, analyst);
}

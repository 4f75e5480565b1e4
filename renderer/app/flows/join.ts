import { isControlRefusal, refusalForEndUser } from '../../../common/control/refusals.js';
import { ConsentResultSchema, RedeemResultSchema } from '../../../common/protocol/responses.js';
import { BrokerError } from '../broker-client.js';
import { parseJoinInput } from '../format.js';
import { endUserBroker, forgetEndUserClient, getBridge } from '../services.js';
import { captureRefusalText } from '../end-reasons.js';
import { brokerNow, resetStore, useAppStore, type ShownDisplayView } from '../store.js';
import { announceDisplay, attachRecorder, startEndUser } from './session.js';
import { CAPTURE_CONSTRAINTS, confirmAfterCapture, loadDisplays, selectBeforeCapture } from './displays.js';
import { startRecording } from './recording.js';
import { stopAtBroker } from './stop-at-broker.js';
import type { SessionRecorder } from '../../session/recorder.js';

/** The end user's path: code, offer (checked by main), consent, screen capture, the live session. */

function store() {
  return useAppStore.getState();
}

export async function redeemCode(input: string): Promise<void> {
  const s = store();
  const code = parseJoinInput(input);
  if (!code) {
    s.setJoin({ error: 'That does not look like a join code. It has 10 letters and digits, like 7KQ2M-XW9PC.' });
    return;
  }
  s.setJoin({ phase: 'redeeming', error: null });
  try {
    const r = await endUserBroker().post('/api/v1/join', { code }, RedeemResultSchema);
    // The consent screen shows only what the broker signed, after main checked the signature.
    const view = await getBridge().offer.verify({ offer: r.offer });
    if (view.sid !== r.session_id) throw new Error('the offer does not match the session');
    // Before the consent screen shows: it names the display to be shared, or asks which.
    await loadDisplays();
    s.setJoin({ phase: 'consent', offer: r.offer, offerView: view, offerExpiresAt: r.offer_expires_at });
  } catch (err) {
    s.setJoin({ phase: 'enter', error: joinError(err) });
  }
}

/** How long to wait, in minutes and as a time on the clock, so the person need not keep retrying. */
function lockedOutText(retryAfterS: number | null): string {
  if (retryAfterS === null) return 'Too many wrong codes. Wait a few minutes, then check the code with the person helping you.';
  const minutes = Math.max(1, Math.ceil(retryAfterS / 60));
  const at = new Date(Date.now() + retryAfterS * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return `Too many wrong codes were typed. You can try again in ${minutes === 1 ? '1 minute' : `${minutes} minutes`} (at ${at}). Meanwhile, check the code with the person helping you: they can see that you are waiting.`;
}

function joinError(err: unknown): string {
  if (err instanceof BrokerError) {
    if (err.status === 404) return 'This code is not valid. It may be mistyped, already used or expired. Check it with the person helping you.';
    if (err.status === 429) return lockedOutText(err.retryAfterS);
    return err.message;
  }
  return `The code could not be checked: ${(err as Error).message}`;
}

/** Accept: the click is the gesture screen capture needs; nothing is shared before it. */
export async function acceptOffer(): Promise<void> {
  const s = store();
  const { offer, offerView } = s.join;
  if (!offer || !offerView) return;
  s.setJoin({ phase: 'starting', error: null });
  const bridge = getBridge();
  let signed: { sid: string; receipt: string };
  let media: MediaStream;
  let shown: ShownDisplayView | null;
  try {
    // The signed receipt comes first: in Electron, main allows screen capture only once this
    // machine has recorded the user's Accept (main/electron/permissions.ts). It is sent to the
    // broker only after capture started, so a failed capture starts nothing.
    signed = await bridge.consent.receipt({ offer, decision: 'accept' });
    // The desktop app gives getDisplayMedia the display chosen on this screen; a browser asks.
    shown = await selectBeforeCapture();
    media = await navigator.mediaDevices.getDisplayMedia(CAPTURE_CONSTRAINTS);
    shown ??= await confirmAfterCapture(media.getVideoTracks()[0]);
  } catch (err) {
    s.setJoin({ phase: 'consent', error: `Screen sharing did not start (${(err as Error).name}). Nothing was shared. You can try again or decline.` });
    return;
  }
  const stopMedia = () => media.getTracks().forEach((t) => t.stop());
  try {
    const { sid, receipt } = signed;
    const r = await endUserBroker().post('/api/v1/join/consent', { session_id: sid, receipt }, ConsentResultSchema);
    if (!r.accepted || !r.expires_at) throw new Error('the broker did not start the session');
    await bridge.session.open({ sessionId: sid, expiresAt: r.expires_at });
    const cap = await bridge.grants.acquire({ sessionId: sid, kind: 'capture' });
    if (!cap.ok) {
      stopMedia();
      await stopAtBroker(sid, r.token, 'capture_refused');
      s.setJoin({ phase: 'ended' });
      s.setLive({ role: 'end_user', sessionId: sid, state: 'ended', ended: { reason: 'capture_refused', revoked: [], at: Date.now() }, notice: isControlRefusal(cap.reason) ? refusalForEndUser(cap.reason) : captureRefusalText(cap.reason) });
      return;
    }
    const brokerUrl = store().policy!.brokerUrl.replace(/\/+$/, '');
    // The recorder runs on the very track that is shared. With `required` it runs before anything
    // is sent to the analyst: no recorder means no sharing.
    let recorder: SessionRecorder | null = null;
    const track = media.getVideoTracks()[0];
    // best_effort: the recorder starts beside the session, not before it (its start took a third
    // to a half of the app's time to first frame: bench/README.md, first_frame_timeline). The
    // recording then misses at most the first moments; a recorder that cannot start changes
    // nothing else, as before.
    const besideSession = offerView.recording === 'best_effort' && track ? startRecording({ sessionId: sid, token: r.token, mode: offerView.recording, track }) : null;
    if (offerView.recording === 'required' && track) {
      try {
        recorder = await startRecording({ sessionId: sid, token: r.token, mode: offerView.recording, track });
      } catch (err) {
        stopMedia();
        await bridge.grants.revokeAll({ sessionId: sid }).catch(() => undefined);
        await stopAtBroker(sid, r.token, 'recording_failed');
        s.setJoin({ phase: 'ended' });
        s.setLive({ role: 'end_user', sessionId: sid, state: 'ended', ended: { reason: 'recording_failed', revoked: ['capture'], at: Date.now() }, notice: `This session must be recorded, and recording did not start here (${(err as Error).message}). Nothing was shared.` });
        return;
      }
    }
    startEndUser({
      recorder,
      sessionId: sid,
      brokerUrl,
      token: r.token,
      expiresAt: r.expires_at,
      iceServers: r.ice_servers,
      stream: media,
      peerName: offerView.analyst.name,
      peerOrg: offerView.analyst.organisation,
      ticket: offerView.ticket,
      capabilities: offerView.capabilities,
    });
    announceDisplay(shown);
    if (besideSession) void besideSession.then((rec) => attachRecorder(sid, rec), (err: unknown) => console.warn('recording:', (err as Error).message));
    s.setJoin({ phase: 'live' });
  } catch (err) {
    stopMedia();
    const lapsed = lapsedBy(err);
    if (lapsed) s.setJoin({ phase: 'lapsed', lapsed, error: null });
    else s.setJoin({ phase: 'consent', error: `The session could not start: ${(err as Error).message}` });
  }
}

/**
 * The broker's answer when the offer can no longer be answered: it expired (the broker has
 * ended it as not answered in time), or the session moved on (the analyst cancelled it).
 */
function lapsedBy(err: unknown): 'expired' | 'withdrawn' | null {
  if (!(err instanceof BrokerError)) return null;
  if (err.code === 'offer_expired') return 'expired';
  if (err.code === 'illegal_transition' || err.code === 'not_found') {
    const at = store().join.offerExpiresAt;
    return at !== null && brokerNow() >= at ? 'expired' : 'withdrawn';
  }
  return null;
}

export async function declineOffer(): Promise<void> {
  const s = store();
  const { offer } = s.join;
  if (!offer) return;
  try {
    const { sid, receipt } = await getBridge().consent.receipt({ offer, decision: 'decline' });
    await endUserBroker().post('/api/v1/join/consent', { session_id: sid, receipt }, ConsentResultSchema);
    s.setLive({ role: 'end_user', sessionId: sid, state: 'ended', ended: { reason: 'declined', revoked: [], at: Date.now() } });
    s.setJoin({ phase: 'ended' });
  } catch (err) {
    const lapsed = lapsedBy(err);
    if (lapsed) s.setJoin({ phase: 'lapsed', lapsed, error: null });
    else s.setJoin({ error: 'Your answer did not reach the support service, but nothing is shared either way. You can close this window.' });
  }
}

/** "Done" on the end screen: back to code entry with nothing left over. */
export function startOver(): void {
  forgetEndUserClient();
  resetStore({ policy: true, route: true, account: true });
}

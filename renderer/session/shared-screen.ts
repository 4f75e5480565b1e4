/**
 * The end user's shared screen on the peer connection: paused and resumed on its sender
 * (replaceTrack(null) and back: no renegotiation, the video section stays as negotiated, which
 * every stack follows), swapped for another screen in place, and at teardown every capture track
 * stopped, so nothing keeps capturing after the session.
 */
export class SharedScreen {
  private paused = false;
  /** The video sender, found once: after replaceTrack(null) it carries no track to find it by. */
  private sender: RTCRtpSender | null = null;

  constructor(readonly stream: MediaStream) {}

  get isPaused(): boolean {
    return this.paused;
  }

  /** Stops sending (the analyst receives nothing); the capture itself keeps running for resume. */
  async pause(pc: RTCPeerConnection): Promise<void> {
    const sender = this.senderOf(pc);
    if (!sender || this.paused) return;
    this.paused = true;
    await sender.replaceTrack(null);
  }

  async resume(pc: RTCPeerConnection): Promise<void> {
    const sender = this.senderOf(pc);
    const track = this.stream.getVideoTracks()[0];
    if (!sender || !track || !this.paused) return;
    await sender.replaceTrack(track);
    this.paused = false;
  }

  /** The shared screen changed (another display, another window): swap the track in place. */
  async replace(pc: RTCPeerConnection, track: MediaStreamTrack): Promise<void> {
    const old = this.stream.getVideoTracks()[0];
    if (!old) return;
    const sender = this.senderOf(pc);
    // While paused the new screen waits in the stream and goes out on resume.
    if (sender && !this.paused) await sender.replaceTrack(track);
    this.stream.removeTrack(old);
    this.stream.addTrack(track);
    old.stop();
  }

  stopAll(): void {
    for (const t of this.stream.getTracks()) t.stop();
  }

  private senderOf(pc: RTCPeerConnection): RTCRtpSender | null {
    const track = this.stream.getVideoTracks()[0];
    this.sender ??= pc.getSenders().find((s) => s.track !== null && s.track === track) ?? null;
    return this.sender;
  }
}

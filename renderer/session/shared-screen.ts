import type SimplePeer from 'simple-peer';

/**
 * The end user's shared screen on the peer connection: paused (the track renegotiated away),
 * resumed, swapped for another screen, and at teardown every capture track stopped, the ones
 * taken out by a pause included, so nothing keeps capturing after the session.
 */
export class SharedScreen {
  /** The track a pause took off the connection, until resume. */
  private removed: MediaStreamTrack | null = null;
  /** Capture tracks replaced by their clones on resume; still capturing until stopped. */
  private retired: MediaStreamTrack[] = [];

  constructor(readonly stream: MediaStream) {}

  pause(peer: SimplePeer.Instance): void {
    const t = this.stream.getVideoTracks()[0];
    if (!t) return;
    this.removed = t;
    peer.removeTrack(t, this.stream);
  }

  resume(peer: SimplePeer.Instance): void {
    if (!this.removed) return;
    // simple-peer refuses to re-add a removed track; a clone of the same capture is a new track.
    const again = this.removed.clone();
    this.stream.removeTrack(this.removed);
    this.stream.addTrack(again);
    this.retired.push(this.removed);
    peer.addTrack(again, this.stream);
    this.removed = null;
  }

  /** The shared screen changed (another display, another window): swap the track in place. */
  replace(peer: SimplePeer.Instance, track: MediaStreamTrack): void {
    const old = this.stream.getVideoTracks()[0];
    if (!old) return;
    peer.replaceTrack(old, track, this.stream);
    this.stream.removeTrack(old);
    this.stream.addTrack(track);
    old.stop();
  }

  stopAll(): void {
    for (const t of this.stream.getTracks()) t.stop();
    this.removed?.stop();
    for (const t of this.retired) t.stop();
  }
}

import { FrameRelay } from './frame-relay.js';
import { MAX_CHUNK_BYTES, RECORDING_FRAME_RATE, RECORDING_TIMESLICE_MS, RECORDING_VIDEO_BITS_PER_SECOND } from '../../common/recording.js';

/**
 * The end user's recorder: MediaRecorder on the very track that is shared (the sharer is the
 * source of truth for what was on screen), WebM, a fixed bitrate and a 2 s timeslice, each chunk
 * handed to `upload` in order, one at a time, as soon as it is produced. The broker acks each
 * chunk; its stall watch, not this file, decides what a missing ack means (fail closed there).
 */

/** Uploads one chunk; throws to be retried, or returns 'stop' when the broker will take no more. */
export type ChunkUpload = (seq: number, bytes: Uint8Array<ArrayBuffer>) => Promise<'acked' | 'stop'>;

export interface RecorderPorts {
  MediaRecorder: typeof MediaRecorder;
  upload: ChunkUpload;
  onError?: (err: unknown) => void;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  /** Insertable streams (frame-relay.ts); tests in Node, which has none, pass a stand-in or null. */
  relay?: (first: MediaStreamTrack) => FrameRelay | null;
}

/** VP9 where this Chromium records it, else VP8: both play in every Chromium the console runs in. */
export const MIME_CANDIDATES = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'] as const;

export function pickMime(isTypeSupported: (t: string) => boolean): string | null {
  return MIME_CANDIDATES.find((t) => isTypeSupported(t)) ?? null;
}

const RETRY_MS = [250, 500, 1000, 2000];

/**
 * A key frame every timeslice's worth of frames: Chromium's muxer starts a WebM Cluster at each
 * one, so every chunk holds a point a watcher who joins late can start decoding from
 * (renderer/watch/webm-live.ts). Without it Chromium sends one about every 10 s, and a watcher
 * would wait that long for a first picture. Browsers that do not know the option ignore it.
 */
export const KEY_FRAME_EVERY_FRAMES = (RECORDING_FRAME_RATE * RECORDING_TIMESLICE_MS) / 1000;

export function recorderOptions(mime: string): MediaRecorderOptions & { videoKeyFrameIntervalCount: number } {
  return { mimeType: mime, videoBitsPerSecond: RECORDING_VIDEO_BITS_PER_SECOND, videoKeyFrameIntervalCount: KEY_FRAME_EVERY_FRAMES };
}

export class SessionRecorder {
  private readonly rec: MediaRecorder;
  /** A clone of the shared track: the same frames the analyst is sent, fewer of them per second. */
  private track: MediaStreamTrack;
  /** What MediaRecorder records: the clone's frames, and after a display switch the new clone's. */
  private readonly relay: FrameRelay | null;
  private seq = 0;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private refused = false;
  readonly mime: string;

  constructor(
    track: MediaStreamTrack,
    private readonly ports: RecorderPorts,
  ) {
    const mime = pickMime((t) => ports.MediaRecorder.isTypeSupported(t));
    if (!mime) throw new Error('this browser cannot record WebM');
    this.mime = mime;
    this.track = track.clone();
    this.relay = (ports.relay ?? FrameRelay.create)(this.track);
    try {
      this.rec = new ports.MediaRecorder(new MediaStream([this.relay?.output ?? this.track]), recorderOptions(mime));
    } catch (err) {
      this.relay?.stop();
      this.track.stop();
      throw err;
    }
    this.rec.addEventListener('dataavailable', (ev) => this.onData((ev as BlobEvent).data));
    this.rec.addEventListener('error', (ev) => ports.onError?.((ev as ErrorEvent).error ?? new Error('MediaRecorder failed')));
  }

  /** Resolves once the recorder really runs (its start event): sharing may begin after that. */
  async start(timeoutMs = 5000): Promise<void> {
    // Where the browser cannot lower the clone's rate it records every frame: more work, same evidence.
    await this.track.applyConstraints({ frameRate: { max: RECORDING_FRAME_RATE } }).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the recorder did not start')), timeoutMs);
      this.rec.addEventListener(
        'start',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
      try {
        this.rec.start(RECORDING_TIMESLICE_MS);
      } catch (err) {
        clearTimeout(t);
        reject(err as Error);
      }
    }).catch((err: unknown) => {
      // Not started: nothing may keep capturing the screen on the recorder's behalf.
      this.relay?.stop();
      this.track.stop();
      throw err;
    });
  }

  /**
   * The end user shares another display: the recording goes on, in the same file, with its frames.
   * Without insertable streams the recording cannot follow, so it stops being fed rather than
   * keep recording a display that is no longer shared (the broker's stall watch then decides).
   */
  follow(shared: MediaStreamTrack): void {
    if (this.stopped) return;
    const old = this.track;
    if (!this.relay) {
      old.stop();
      this.ports.onError?.(new Error('this browser cannot record a switched display'));
      return;
    }
    this.track = shared.clone();
    void this.track.applyConstraints({ frameRate: { max: RECORDING_FRAME_RATE } }).catch(() => undefined);
    this.relay.follow(this.track);
    old.stop();
  }

  get running(): boolean {
    return this.rec.state === 'recording';
  }

  /** Chunks handed to the broker so far (acked or refused). */
  get sent(): number {
    return this.seq;
  }

  /** Stops recording; resolves once the last chunk (MediaRecorder's final dataavailable) is uploaded or given up. */
  async stop(): Promise<void> {
    if (this.stopped) return this.queue;
    this.stopped = true;
    if (this.rec.state !== 'inactive') {
      const last = new Promise<void>((resolve) => this.rec.addEventListener('stop', () => resolve(), { once: true }));
      this.rec.stop();
      await last;
    }
    // The clone would keep the screen captured after the shared track is stopped.
    this.relay?.stop();
    this.track.stop();
    await this.queue;
  }

  private onData(blob: Blob): void {
    if (blob.size === 0 || this.refused) return;
    // Queued, so chunks reach the broker in order: it refuses a seq out of order.
    this.queue = this.queue.then(() => this.send(blob)).catch((err: unknown) => this.ports.onError?.(err));
  }

  private async send(blob: Blob): Promise<void> {
    if (this.refused) return;
    if (blob.size > MAX_CHUNK_BYTES) {
      // Cannot happen at the bitrate asked for; the broker would refuse it, so it is not sent.
      this.ports.onError?.(new Error(`a recording chunk of ${blob.size} bytes is over the limit`));
      return;
    }
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const seq = this.seq;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.ports.upload(seq, bytes);
        if (r === 'stop') this.refused = true;
        break;
      } catch (err) {
        // The broker or the path failed: the same seq again, while the session lasts. The
        // broker's stall watch ends a session whose recording cannot get through.
        this.ports.onError?.(err);
        if (this.refused) return;
        await new Promise<void>((r) => (this.ports.setTimeout ?? setTimeout)(() => r(), RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]!));
        if (attempt > 60) return;
      }
    }
    this.seq = seq + 1;
  }
}

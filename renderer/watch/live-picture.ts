import { LiveWebm } from './webm-live.js';

/**
 * The watcher's picture: a <video> fed by Media Source Extensions with the recording's chunks as
 * the broker relays them (the end user uploads each chunk once, whoever watches). Appends run one
 * at a time in arrival order. The picture stays near the live edge (followLiveEdge): the screen
 * the watcher sees is at most about a chunk old instead of drifting further behind.
 */

/** Behind the newest buffered frame by more than this, playback runs faster until it is close again. */
export const LAG_MAX_S = 0.6;
const CATCH_UP_RATE = 2;
/** Behind by more than this, playback jumps (seeks) to the newest frame instead. */
const JUMP_S = 4;
/** Where a jump lands: this much before the newest frame (one or two frames at 10 per second). */
const JUMP_BACK_S = 0.15;
/** Buffered video older than this behind playback is removed: a long watch keeps memory flat. */
const KEEP_S = 20;
/** The backlog burst is over when no chunk came for this long. */
const BACKLOG_QUIET_MS = 250;

export interface PictureStatus {
  /** The browser cannot play this recording (no MediaSource, or it refused the codec). */
  failed: string | null;
}

export class LivePicture {
  private readonly webm = new LiveWebm();
  private ms: MediaSource | null = null;
  private sb: SourceBuffer | null = null;
  private queue: Uint8Array[] = [];
  private opening: Promise<void> | null = null;
  private closed = false;
  private url: string | null = null;
  private lastTrim = 0;
  private backlogTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly onStatus: (s: PictureStatus) => void,
  ) {
    video.addEventListener('timeupdate', this.steer);
  }

  /** One relayed chunk, in order. */
  push(seq: number, bytes: Uint8Array, live: boolean): void {
    if (this.closed) return;
    if (this.backlogTimer) clearTimeout(this.backlogTimer);
    this.backlogTimer = null;
    this.add(this.webm.push(seq, bytes, live));
    // The stored chunks come in one burst; once it pauses, the newest of them is what the screen
    // shows now (the next live chunk may be two seconds away).
    if (!live) this.backlogTimer = setTimeout(() => this.add(this.webm.flushBacklog()), BACKLOG_QUIET_MS);
  }

  private add(parts: Uint8Array[]): void {
    if (this.closed || parts.length === 0) return;
    this.queue.push(...parts);
    void this.pump();
  }

  close(): void {
    this.closed = true;
    this.video.removeEventListener('timeupdate', this.steer);
    if (this.backlogTimer) clearTimeout(this.backlogTimer);
    this.queue = [];
    try {
      if (this.ms?.readyState === 'open') this.ms.endOfStream();
    } catch {
      // Closing anyway.
    }
    this.video.removeAttribute('src');
    this.video.load();
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
  }

  private open(mime: string): Promise<void> {
    if (this.opening) return this.opening;
    this.opening = new Promise<void>((resolve, reject) => {
      if (typeof MediaSource === 'undefined' || !MediaSource.isTypeSupported(mime)) {
        reject(new Error(`this browser cannot play ${mime} live`));
        return;
      }
      const ms = new MediaSource();
      this.ms = ms;
      ms.addEventListener(
        'sourceopen',
        () => {
          try {
            this.sb = ms.addSourceBuffer(mime);
            resolve();
          } catch (err) {
            reject(err as Error);
          }
        },
        { once: true },
      );
      this.url = URL.createObjectURL(ms);
      this.video.src = this.url;
    });
    return this.opening;
  }

  private pumping = false;

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const mime = this.webm.mime;
      if (!mime) throw new Error('the recording does not name a codec this page knows');
      await this.open(mime);
      while (!this.closed && this.queue.length > 0) {
        const next = this.queue.shift()!;
        await this.whenIdle(() => this.sb!.appendBuffer(next as Uint8Array<ArrayBuffer>));
        const end = this.followLiveEdge();
        const upTo = this.video.currentTime - KEEP_S;
        if (end !== null && upTo > 0 && end - this.lastTrim >= KEEP_S) {
          this.lastTrim = end;
          await this.whenIdle(() => this.sb!.remove(0, upTo));
        }
      }
    } catch (err) {
      if (!this.closed) this.onStatus({ failed: (err as Error).message });
    } finally {
      this.pumping = false;
    }
  }

  /** Runs one SourceBuffer operation and waits for it to finish (the next may only start then). */
  private whenIdle(op: () => void): Promise<void> {
    const sb = this.sb!;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        sb.removeEventListener('error', failed);
        resolve();
      };
      const failed = () => {
        sb.removeEventListener('updateend', done);
        reject(new Error('the browser could not decode the live picture'));
      };
      sb.addEventListener('updateend', done, { once: true });
      sb.addEventListener('error', failed, { once: true });
      try {
        op();
      } catch (err) {
        sb.removeEventListener('updateend', done);
        sb.removeEventListener('error', failed);
        reject(err as Error);
      }
    });
  }

  /**
   * Keeps playback near the newest frame without seeking on every chunk: a seek makes the decoder
   * start again from the chunk's key frame, and on a busy machine one seek every 2 s never
   * finishes before the next (the picture freezes). So: faster playback while behind, back to
   * normal speed near the edge, and a seek only on the first picture or when far behind (a tab
   * that was in the background), never while one is still running.
   */
  private followLiveEdge(): number | null {
    const v = this.video;
    const b = v.buffered;
    if (b.length === 0) return null;
    const end = b.end(b.length - 1);
    const start = b.start(b.length - 1);
    if (!v.seeking && (v.currentTime < start || end - v.currentTime > JUMP_S)) v.currentTime = Math.max(start, end - JUMP_BACK_S);
    this.steer();
    if (v.paused) void v.play().catch(() => undefined);
    return end;
  }

  private readonly steer = (): void => {
    const v = this.video;
    const b = v.buffered;
    if (b.length === 0 || v.seeking) return;
    const behind = b.end(b.length - 1) - v.currentTime;
    const rate = behind > LAG_MAX_S ? CATCH_UP_RATE : behind < LAG_MAX_S / 2 ? 1 : v.playbackRate;
    if (v.playbackRate !== rate) v.playbackRate = rate;
  };
}

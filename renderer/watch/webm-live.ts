/**
 * Just enough WebM to join a recording while it is being made. MediaRecorder's stream is one
 * Segment: the init part (EBML header, Info, Tracks) and then Clusters of unknown size, each
 * starting on a key frame. Chunks are cut by time, not on Cluster boundaries, so a watcher who
 * joins late keeps the init part of chunk 0 and starts feeding at the first Cluster it finds; from
 * there the bytes are appended as they come. Nothing here trusts the bytes beyond finding offsets.
 */

const CLUSTER_ID = [0x1f, 0x43, 0xb6, 0x75] as const;
const TIMECODE_ID = 0xe7;
const EBML_MAGIC = [0x1a, 0x45, 0xdf, 0xa3] as const;

/** Length of the EBML variable-size integer starting with `first`, or 0 if it is not one. */
function vintLength(first: number): number {
  for (let len = 1; len <= 8; len++) if (first & (0x80 >> (len - 1))) return len;
  return 0;
}

/**
 * Offset of the first Cluster in `bytes` at or after `from`, or -1. A Cluster is its ID, a valid
 * size (MediaRecorder writes "unknown") and then its Timecode element: a chance match of the four
 * ID bytes inside a frame almost never has both.
 */
export function findCluster(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(0, from); i + 5 < bytes.length; i++) {
    if (bytes[i] !== CLUSTER_ID[0] || bytes[i + 1] !== CLUSTER_ID[1] || bytes[i + 2] !== CLUSTER_ID[2] || bytes[i + 3] !== CLUSTER_ID[3]) continue;
    const len = vintLength(bytes[i + 4]!);
    if (len === 0) continue;
    const next = i + 4 + len;
    if (next < bytes.length && bytes[next] !== TIMECODE_ID) continue;
    return i;
  }
  return -1;
}

/** The init part of a recording's first chunk (everything before its first Cluster), or null when it is not one. */
export function initSegment(first: Uint8Array): Uint8Array | null {
  if (first.length < 4 || EBML_MAGIC.some((b, i) => first[i] !== b)) return null;
  const at = findCluster(first);
  return at > 0 ? first.subarray(0, at) : null;
}

/** The codec the init part names (CodecID V_VP9 or V_VP8), as MediaSource wants it. */
export function sourceType(init: Uint8Array): string | null {
  const text = String.fromCharCode(...init.subarray(0, Math.min(init.length, 4096)));
  if (text.includes('V_VP9')) return 'video/webm; codecs="vp9"';
  if (text.includes('V_VP8')) return 'video/webm; codecs="vp8"';
  return null;
}

/**
 * Turns the chunks a watcher receives, in order, into what MediaSource may be given: the init
 * part once, then bytes from a Cluster on. The backlog (stored chunks, `live` false, sent in a
 * burst when the watch opens) is not decoded from the beginning: only the newest Cluster of it is
 * kept, handed on when the first live chunk comes or when the burst is over (`flushBacklog`), so
 * the watcher starts at what the screen shows now. A gap in the sequence (a chunk lost) starts
 * over at the next Cluster, so the decoder never gets a frame without its key frame.
 */
export class LiveWebm {
  private init: Uint8Array | null = null;
  private inCluster = false;
  private lastSeq: number | null = null;
  /** Backlog from its newest Cluster on, not yet handed on. */
  private backlog: Uint8Array[] = [];

  /** What to append for chunk `seq` (nothing while waiting for the init, a Cluster or the end of the backlog). */
  push(seq: number, bytes: Uint8Array, live: boolean): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (this.lastSeq !== null && seq !== this.lastSeq + 1) {
      this.inCluster = false;
      this.backlog = [];
    }
    this.lastSeq = seq;
    if (seq === 0) {
      const init = initSegment(bytes);
      if (!init) return out;
      if (!this.init) {
        this.init = init;
        out.push(init);
      }
    }
    if (!this.init) return out;
    if (!live) {
      const at = findCluster(bytes, seq === 0 ? this.init.length : 0);
      if (at >= 0) this.backlog = [bytes.subarray(at)];
      else if (this.backlog.length > 0) this.backlog.push(bytes);
      return out;
    }
    out.push(...this.flushBacklog());
    if (this.inCluster) {
      out.push(bytes);
      return out;
    }
    const at = findCluster(bytes, seq === 0 ? this.init.length : 0);
    if (at < 0) return out;
    this.inCluster = true;
    out.push(bytes.subarray(at));
    return out;
  }

  /** The backlog's newest Cluster and what followed it; from then on chunks are appended whole. */
  flushBacklog(): Uint8Array[] {
    const out = this.backlog;
    this.backlog = [];
    if (out.length > 0) this.inCluster = true;
    return out;
  }

  /** The SourceBuffer type, once the init part has come. */
  get mime(): string | null {
    return this.init ? sourceType(this.init) : null;
  }
}

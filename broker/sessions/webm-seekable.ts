import { Decoder, Reader, tools, type EBMLElementDetail } from 'ts-ebml';

type Cue = { CueTrack: number; CueClusterPosition: number; CueTime: number };

/**
 * Chromium's MediaRecorder writes a live WebM: no duration, no cues, so a player cannot seek it.
 * At finalisation the chunks are joined and the metadata rewritten with the duration and a cue
 * per cluster (ts-ebml's makeMetadataSeekable), which lets the console's player seek anywhere
 * while it streams from the broker. Returns null for bytes that are not a WebM it can read: the
 * chunks are still the evidence; the playable file is a convenience built from them.
 */
export function seekableWebm(joined: Buffer): { bytes: Buffer; durationMs: number } | null {
  // Not an EBML file (its magic number): nothing to rebuild, and ts-ebml would log its confusion.
  if (joined.length < 4 || joined.readUInt32BE(0) !== EBML_MAGIC) return null;
  try {
    const elements = new Decoder().decode(joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer);
    const reader = new Reader();
    reader.logging = false;
    reader.drop_default_duration = false;
    for (const el of elements) reader.read(el);
    reader.stop();
    if (reader.metadatas.length === 0 || reader.metadataSize <= 0) return null;
    const timing = blockTiming(elements, videoTrackNumber(elements));
    if (!timing) return null;
    const refined = Buffer.from(encodeUnpooled(() => tools.makeMetadataSeekable(reader.metadatas, timing.duration, timing.cues)));
    if (refined.readUInt32BE(0) !== EBML_MAGIC) return null;
    // Durations are in TimestampScale units (1 ms for MediaRecorder's files).
    const scale = reader.timestampScale || 1_000_000;
    return { bytes: Buffer.concat([refined, joined.subarray(reader.metadataSize)]), durationMs: Math.round((timing.duration * scale) / 1_000_000) };
  } catch {
    return null;
  }
}

const EBML_MAGIC = 0x1a45dfa3;
const VIDEO_TRACK_TYPE = 1;

/**
 * One cue per cluster (at its first video frame) and the duration: the last frame's time plus
 * one frame. Done here rather than by ts-ebml's Reader because the Reader reads only SimpleBlock,
 * and Chromium writes a BlockGroup per frame when the track carries alpha (BlockAdditions), which
 * left the file without cues or duration.
 */
function blockTiming(elements: EBMLElementDetail[], videoTrack: number): { cues: Cue[]; duration: number } | null {
  if (videoTrack < 0) return null;
  const cues: Cue[] = [];
  let clusterAt = -1;
  let clusterTime = 0;
  let cuedCluster = -1;
  let last = -1;
  let frame = 0;
  for (const el of elements) {
    if (el.type === 'm' && el.name === 'Cluster' && !el.isEnd) clusterAt = el.tagStart;
    else if (el.type === 'u' && el.name === 'Timestamp') clusterTime = Number(el.value);
    else if (el.type === 'b' && (el.name === 'SimpleBlock' || el.name === 'Block') && clusterAt >= 0) {
      const block = tools.ebmlBlock(el.data);
      if (block.trackNumber !== videoTrack) continue;
      const at = clusterTime + block.timecode;
      if (cuedCluster !== clusterAt) {
        cues.push({ CueTrack: videoTrack, CueClusterPosition: clusterAt, CueTime: at });
        cuedCluster = clusterAt;
      }
      if (last >= 0 && at > last) frame = at - last;
      last = Math.max(last, at);
    }
  }
  if (cues.length === 0 || last < 0) return null;
  return { cues, duration: last + frame };
}

/** The first video track's number (TrackType 1), or -1. */
function videoTrackNumber(elements: EBMLElementDetail[]): number {
  let number = -1;
  let type = -1;
  for (const el of elements) {
    if (el.type === 'm' && el.name === 'TrackEntry' && !el.isEnd) [number, type] = [-1, -1];
    else if (el.type === 'u' && el.name === 'TrackNumber') number = Number(el.value);
    else if (el.type === 'u' && el.name === 'TrackType') type = Number(el.value);
    else if (el.type === 'm' && el.name === 'TrackEntry' && el.isEnd && type === VIDEO_TRACK_TYPE) return number;
  }
  return -1;
}

/**
 * ts-ebml's Encoder returns `Buffer.concat(...).buffer`: in Node a small Buffer is a view into a
 * shared 8 KiB pool, so that ArrayBuffer is the whole pool and the metadata sits somewhere inside
 * it (the rebuilt file started with another buffer's bytes, not the EBML header). With the pool
 * off for this synchronous call each Buffer owns its ArrayBuffer, starting at offset 0.
 */
function encodeUnpooled(encode: () => ArrayBuffer): ArrayBuffer {
  const poolSize = Buffer.poolSize;
  Buffer.poolSize = 0;
  try {
    return encode();
  } finally {
    Buffer.poolSize = poolSize;
  }
}

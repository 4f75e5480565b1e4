import { Decoder, Reader, tools } from 'ts-ebml';

/**
 * Chromium's MediaRecorder writes a live WebM: no duration, no cues, so a player cannot seek it.
 * At finalisation the chunks are joined and the metadata rewritten with the duration and a cue
 * per cluster (ts-ebml's makeMetadataSeekable), which lets the console's player seek anywhere
 * while it streams from the broker. Returns null for bytes that are not a WebM it can read: the
 * chunks are still the evidence; the playable file is a convenience built from them.
 */
export function seekableWebm(joined: Buffer): { bytes: Buffer; durationMs: number } | null {
  // Not an EBML file (its magic number): nothing to rebuild, and ts-ebml would log its confusion.
  if (joined.length < 4 || joined.readUInt32BE(0) !== 0x1a45dfa3) return null;
  try {
    const decoder = new Decoder();
    const reader = new Reader();
    reader.logging = false;
    reader.drop_default_duration = false;
    const ab = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer;
    for (const el of decoder.decode(ab)) reader.read(el);
    reader.stop();
    if (reader.metadatas.length === 0 || reader.metadataSize <= 0 || reader.cues.length === 0) return null;
    const refined = Buffer.from(tools.makeMetadataSeekable(reader.metadatas, reader.duration, reader.cues));
    // reader.duration is in TimestampScale units (1 ms for MediaRecorder's files).
    const scale = reader.timestampScale || 1_000_000;
    return { bytes: Buffer.concat([refined, joined.subarray(reader.metadataSize)]), durationMs: Math.round((reader.duration * scale) / 1_000_000) };
  } catch {
    return null;
  }
}

import { describe, expect, it } from 'vitest';
import { findCluster, initSegment, LiveWebm, sourceType } from '../../renderer/watch/webm-live.js';

// A WebM as MediaRecorder lays it out: EBML header, Segment (unknown size), Tracks naming the
// codec, then Clusters of unknown size that start with their Timecode.
const EBML = [0x1a, 0x45, 0xdf, 0xa3, 0x84, 0x42, 0x86, 0x81, 0x01];
const SEGMENT = [0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const codec = (c: string) => [0x86, 0x80 | c.length, ...[...c].map((x) => x.charCodeAt(0))];
const TRACKS = (c: string) => [0x16, 0x54, 0xae, 0x6b, 0x80 | (codec(c).length + 2), 0xae, 0x80 | codec(c).length, ...codec(c)];
const cluster = (t: number, frame: number[]) => [0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe7, 0x81, t, 0xa3, 0x80 | frame.length, ...frame];
const bytes = (...parts: number[][]) => new Uint8Array(parts.flat());

describe('joining a recording while it is being made (WebM from MediaRecorder)', () => {
  const head = [...EBML, ...SEGMENT, ...TRACKS('V_VP9')];
  const first = bytes(head, cluster(0, [1, 2, 3]));

  it('the init part of the first chunk is everything before its first Cluster, and names the codec', () => {
    const init = initSegment(first)!;
    expect([...init]).toEqual(head);
    expect(sourceType(init)).toBe('video/webm; codecs="vp9"');
    expect(sourceType(bytes([...EBML, ...SEGMENT, ...TRACKS('V_VP8')]))).toBe('video/webm; codecs="vp8"');
    expect(initSegment(bytes(cluster(0, [1])))).toBeNull();
  });

  it('the four Cluster ID bytes inside a frame are not taken for a Cluster', () => {
    const fake = [0x1f, 0x43, 0xb6, 0x75, 0x81, 0x00];
    const chunk = bytes([0xa3, 0x86, ...fake], cluster(9, [7]));
    expect(findCluster(chunk)).toBe(8);
  });

  it('a late watcher gets the init part and the newest Cluster of the backlog, then every live chunk; a gap waits for a Cluster again', () => {
    const w = new LiveWebm();
    expect(w.push(0, first, false).map((b) => [...b])).toEqual([head]);
    expect(w.mime).toBe('video/webm; codecs="vp9"');
    expect(w.push(1, bytes([0xa3, 0x82, 9, 9], cluster(20, [4])), false)).toEqual([]);
    const mid = bytes([0xa3, 0x82, 9, 9], cluster(40, [4, 5]));
    expect(w.push(2, mid, false)).toEqual([]);
    const rest = bytes([0xa3, 0x82, 8, 8]);
    expect(w.push(3, rest, false)).toEqual([]);
    // The burst is over: the newest Cluster (from chunk 2) and what followed it, nothing older.
    expect(w.flushBacklog().map((b) => [...b])).toEqual([cluster(40, [4, 5]), [...rest]]);
    const tail = bytes([0xa3, 0x82, 6, 6]);
    expect(w.push(4, tail, true)).toEqual([tail]);
    // 5 never came: 6 starts mid-Cluster and is held back until a Cluster begins.
    expect(w.push(6, tail, true)).toEqual([]);
    expect(w.push(7, bytes(cluster(48, [1])), true).map((b) => [...b])).toEqual([cluster(48, [1])]);
  });

  it('the first live chunk hands on the backlog before itself', () => {
    const w = new LiveWebm();
    w.push(0, first, false);
    const c1 = bytes(cluster(20, [4]));
    w.push(1, c1, false);
    const c2 = bytes([0xa3, 0x81, 1]);
    expect(w.push(2, c2, true)).toEqual([c1, c2]);
  });

  it('a watcher present from the start gets chunk 0 whole; nothing before the init is appended', () => {
    const w = new LiveWebm();
    expect(w.push(3, bytes(cluster(6, [1])), true)).toEqual([]);
    const out = w.push(0, first, true);
    expect(out.map((b) => [...b])).toEqual([head, cluster(0, [1, 2, 3])]);
  });
});

import { describe, expect, it } from 'vitest';
import type { TranscriptEntry } from '../../common/recording.js';
import { PresenceTranscript } from '../../main/presence-transcript.js';

describe("the end user's transcript hears who watches", () => {
  const make = () => {
    const lines: { sid: string; e: TranscriptEntry }[] = [];
    let now = 1000;
    const p = new PresenceTranscript((sid, e) => lines.push({ sid, e }), () => now++);
    return { p, lines };
  };

  it('writes each join, leave, suspension and resumption once, with the name and never anything else', () => {
    const { p, lines } = make();
    expect(p.update('s1', [{ id: 'w1', name: 'Sam Supervisor' }], false)).toBe(1);
    // The same presence told again (a reconnect, a control frame) writes nothing.
    expect(p.update('s1', [{ id: 'w1', name: 'Sam Supervisor' }], false)).toBe(0);
    expect(p.update('s1', [{ id: 'w1', name: 'Sam Supervisor' }, { id: 'w2', name: 'Ada Admin' }], true)).toBe(2);
    expect(p.update('s1', [{ id: 'w2', name: 'Ada Admin' }], false)).toBe(2);
    expect(lines.map((l) => [l.e.kind, l.e.why ?? null])).toEqual([
      ['watcher_joined', 'Sam Supervisor'],
      ['watcher_joined', 'Ada Admin'],
      ['control_suspended', null],
      ['watcher_left', 'Sam Supervisor'],
      ['control_resumed', null],
    ]);
  });

  it('keeps sessions apart, and a forgotten session starts again from nobody', () => {
    const { p, lines } = make();
    p.update('s1', [{ id: 'w1', name: 'Sam' }], false);
    p.update('s2', [{ id: 'w1', name: 'Sam' }], false);
    p.forget('s1');
    p.update('s1', [{ id: 'w1', name: 'Sam' }], false);
    expect(lines.map((l) => `${l.sid}:${l.e.kind}`)).toEqual(['s1:watcher_joined', 's2:watcher_joined', 's1:watcher_joined']);
  });
});

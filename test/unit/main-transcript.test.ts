import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TranscriptBatchSchema, type TranscriptEntry } from '../../common/recording.js';
import { FileGrantJournal } from '../../main/grant-journal.js';
import { GrantRegistry } from '../../main/grants.js';
import { InputGate } from '../../main/input-gate.js';
import type { Injector, ScreenRect } from '../../main/injector.js';
import { TranscriptBuffer } from '../../main/transcript.js';

const injector: Injector = {
  screen: { x: 0, y: 0, width: 1280, height: 720 } as ScreenRect,
  move: () => undefined,
  button: () => undefined,
  wheel: () => undefined,
  key: () => true,
  text: () => undefined,
  releaseAll: () => undefined,
} as unknown as Injector;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("the transcript from main's input gate", () => {
  it('records clicks with their position, key presses as counts per second without codes, chat and text as lengths, refusals with why', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-transcript-'));
    dirs.push(dir);
    let t = 1_700_000_000_000;
    const clock = { now: () => t, at: () => () => undefined };
    const registry = new GrantRegistry({ clock, journal: new FileGrantJournal(path.join(dir, 'grants.json')) });
    registry.openSession('s1', t + 3_600_000);
    const buf = new TranscriptBuffer();
    const gate = new InputGate({ grants: registry, isSessionActive: () => true, injector, now: () => t, onTranscript: (id, e) => buf.add(id, e) });
    let seq = 0;
    const send = (m: Record<string, unknown>) => gate.handle('s1', JSON.stringify({ seq: seq++, ...m }), m.t === 'move' ? 'pointer' : 'reliable');

    expect(send({ t: 'down', button: 'left', x: 0.1, y: 0.2 })).toBe('refused_no_grant');
    registry.acquire('s1', 'control', { userAction: true, expiresAt: t + 60_000, revoke: () => undefined });
    send({ t: 'move', x: 0.5, y: 0.5 });
    send({ t: 'down', button: 'left', x: 0.25, y: 0.75 });
    send({ t: 'up', button: 'left', x: 0.25, y: 0.75 });
    for (const code of ['KeyP', 'KeyA', 'KeyS']) {
      send({ t: 'keydown', code, key: code.slice(3).toLowerCase() });
      send({ t: 'keyup', code, key: code.slice(3).toLowerCase() });
    }
    t += 1000;
    send({ t: 'keydown', code: 'KeyW', key: 'w' });
    send({ t: 'text', text: 'secret' });
    send({ t: 'chat', text: 'hello there' });

    const batch = buf.take('s1')!;
    expect(TranscriptBatchSchema.parse(batch)).toEqual(batch);
    const kinds = batch.entries.map((e: TranscriptEntry) => [e.kind, e.count ?? e.why ?? e.x ?? null]);
    expect(kinds).toEqual([
      ['refused', 'refused_no_grant'],
      ['click', 0.25],
      ['keys', 3],
      ['keys', 1],
      ['text', 6],
      ['chat', 11],
    ]);
    // Nothing typed is kept: no key codes, no text.
    expect(JSON.stringify(batch)).not.toMatch(/KeyP|secret|hello/);
  });

  it('a batch that did not get through is sent again with the same seq and entries; the next one follows once acked', () => {
    const buf = new TranscriptBuffer();
    buf.add('s1', { t: 1, kind: 'control_granted' });
    const first = buf.take('s1')!;
    buf.add('s1', { t: 2, kind: 'click', x: 0.5, y: 0.5, button: 'left' });
    expect(buf.take('s1')).toBe(first);
    buf.done('s1', 0);
    expect(buf.take('s1')).toMatchObject({ seq: 1, entries: [{ kind: 'click' }] });
    buf.done('s1', 1);
    expect(buf.take('s1')).toBeNull();
    buf.forget('s1');
    expect(buf.take('s1')).toBeNull();
  });
});

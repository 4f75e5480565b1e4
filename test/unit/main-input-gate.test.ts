import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_CONTROL_MESSAGE_BYTES } from '../../common/control/protocol.js';
import type { Clock } from '../../main/clock.js';
import { FileGrantJournal } from '../../main/grant-journal.js';
import { GrantRegistry } from '../../main/grants.js';
import { InputGate } from '../../main/input-gate.js';
import type { Injector, PointerButton, ScreenRect } from '../../main/injector.js';
import { armPanicChord, chordPart, completesChord, PANIC_CHORD, type ChordPart } from '../../main/panic.js';

/** Records what reaches the Injector port; "Dead" is a key it has no mapping for. */
class RecordingInjector implements Injector {
  readonly screen: ScreenRect = { x: 0, y: 0, width: 1280, height: 720 };
  calls: string[] = [];
  failing = false;
  move(x: number, y: number): void {
    this.rec(`move ${x} ${y}`);
  }
  button(b: PointerButton, down: boolean): void {
    this.rec(`button ${b} ${down ? 'down' : 'up'}`);
  }
  wheel(dx: number, dy: number): void {
    this.rec(`wheel ${dx} ${dy}`);
  }
  key(code: string, key: string, down: boolean): boolean {
    if (key === 'Dead') return false;
    this.rec(`key ${code} ${down ? 'down' : 'up'}`);
    return true;
  }
  text(s: string): void {
    this.rec(`text ${s}`);
  }
  releaseAll(): void {
    this.rec('releaseAll');
  }
  async close(): Promise<void> {}
  private rec(c: string): void {
    if (this.failing) throw new Error('X connection lost');
    this.calls.push(c);
  }
}

class SteppedClock implements Clock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
  at(): () => void {
    return () => {};
  }
}

describe('InputGate', () => {
  const SID = 's1';
  let dir: string;
  let clock: SteppedClock;
  let registry: GrantRegistry;
  let injector: RecordingInjector;
  let gate: InputGate;
  let active: boolean;
  let chats: string[];
  let seq: number;

  const send = (msg: Record<string, unknown>, sessionId = SID) =>
    gate.handle(sessionId, JSON.stringify({ seq: seq++, ...msg }), msg.t === 'move' ? 'pointer' : 'reliable');
  const grant = () => expect(registry.acquire(SID, 'control', { userAction: true, expiresAt: clock.t + 60_000, revoke: () => {} }).ok).toBe(true);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-gate-'));
    clock = new SteppedClock();
    registry = new GrantRegistry({ clock, journal: new FileGrantJournal(path.join(dir, 'grants.json')) });
    registry.openSession(SID, clock.t + 3_600_000);
    injector = new RecordingInjector();
    active = true;
    chats = [];
    seq = 0;
    gate = new InputGate({
      grants: registry,
      isSessionActive: (id) => id === SID && active,
      injector,
      onChat: (id, text) => chats.push(`${id}: ${text}`),
      now: () => clock.t,
    });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('injects input while the session is active and control is granted', () => {
    grant();
    expect(send({ t: 'move', x: 0.5, y: 0.25 })).toBe('injected');
    expect(send({ t: 'down', button: 'left', x: 0.1, y: 0.2 })).toBe('injected');
    expect(send({ t: 'up', button: 'left', x: 0.1, y: 0.2 })).toBe('injected');
    expect(send({ t: 'wheel', dx: 0, dy: -3 })).toBe('injected');
    expect(send({ t: 'keydown', code: 'KeyA', key: 'a' })).toBe('injected');
    expect(send({ t: 'keyup', code: 'KeyA', key: 'a' })).toBe('injected');
    expect(send({ t: 'text', text: 'hello' })).toBe('injected');
    expect(injector.calls).toEqual([
      'move 0.5 0.25',
      'move 0.1 0.2',
      'button left down',
      'move 0.1 0.2',
      'button left up',
      'wheel 0 -3',
      'key KeyA down',
      'key KeyA up',
      'text hello',
    ]);
    expect(gate.counters.injected).toBe(7);
  });

  it('refuses input without the grant, for another session, and for an inactive session', () => {
    const all = () =>
      [
        send({ t: 'move', x: 0.5, y: 0.5 }),
        send({ t: 'down', button: 'right', x: 0.5, y: 0.5 }),
        send({ t: 'keydown', code: 'KeyA', key: 'a' }),
        send({ t: 'text', text: 'x' }),
      ] as string[];
    expect(all()).toEqual(Array(4).fill('refused_no_grant'));
    grant();
    expect(send({ t: 'move', x: 0.5, y: 0.5 }, 's2')).toBe('refused_inactive');
    active = false;
    expect(all()).toEqual(Array(4).fill('refused_inactive'));
    expect(injector.calls).toEqual([]);
    expect(gate.counters).toMatchObject({ injected: 0, refused_no_grant: 4, refused_inactive: 5 });
  });

  it('locks itself while the session is interrupted: input refused, held keys released, chat still passes; unlocks on resume', () => {
    grant();
    expect(send({ t: 'keydown', code: 'ShiftLeft', key: 'Shift' })).toBe('injected');
    gate.interrupt(SID);
    expect(injector.calls).toEqual(['key ShiftLeft down', 'releaseAll']);
    expect([send({ t: 'move', x: 0.5, y: 0.5 }), send({ t: 'down', button: 'left', x: 0.5, y: 0.5 }), send({ t: 'text', text: 'x' })]).toEqual(Array(3).fill('refused_interrupted'));
    expect(send({ t: 'chat', text: 'are you still there?' })).toBe('chat');
    // Another session's interruption is not this one's; resuming one that is not interrupted is a no-op.
    gate.resume('s2');
    expect(send({ t: 'move', x: 0.5, y: 0.5 })).toBe('refused_interrupted');
    gate.resume(SID);
    expect(send({ t: 'move', x: 0.25, y: 0.5 })).toBe('injected');
    expect(injector.calls).toEqual(['key ShiftLeft down', 'releaseAll', 'move 0.25 0.5']);
    expect(gate.counters).toMatchObject({ refused_interrupted: 4, chat: 1 });
  });

  it('enforces seq per sender: a replayed or older reliable message is dropped, and a move older than the newest input never lands', () => {
    grant();
    const at = (s: number, msg: Record<string, unknown>) => gate.handle(SID, JSON.stringify({ seq: s, ...msg }), msg.t === 'move' ? 'pointer' : 'reliable');
    expect(at(10, { t: 'move', x: 0.5, y: 0.5 })).toBe('injected');
    // The pointer channel is unordered: move 9 arriving after move 10 would jump the pointer back.
    expect(at(9, { t: 'move', x: 0.1, y: 0.1 })).toBe('dropped_stale');
    // The reliable channel is ordered on its own: a click sent before move 10 still counts.
    expect(at(8, { t: 'down', button: 'left', x: 0.5, y: 0.5 })).toBe('injected');
    expect(at(8, { t: 'down', button: 'left', x: 0.5, y: 0.5 })).toBe('dropped_stale');
    expect(at(11, { t: 'up', button: 'left', x: 0.5, y: 0.5 })).toBe('injected');
    // A move sent before that release lands nowhere after it.
    expect(at(10, { t: 'move', x: 0.9, y: 0.9 })).toBe('dropped_stale');
    expect(at(12, { t: 'move', x: 0.2, y: 0.2 })).toBe('injected');
    expect(at(7, { t: 'chat', text: 'replayed' })).toBe('dropped_stale');
    expect(injector.calls).toEqual(['move 0.5 0.5', 'move 0.5 0.5', 'button left down', 'move 0.5 0.5', 'button left up', 'move 0.2 0.2']);
    expect(gate.counters.dropped_stale).toBe(4);
  });

  it('refuses input once the grant has expired, before any timer has fired', () => {
    grant();
    expect(send({ t: 'keydown', code: 'ShiftLeft', key: 'Shift' })).toBe('injected');
    clock.t += 60_000;
    expect(send({ t: 'move', x: 0.5, y: 0.5 })).toBe('refused_no_grant');
    // Nothing the analyst held stays down once their control has lapsed.
    expect(injector.calls).toEqual(['key ShiftLeft down', 'releaseAll']);
  });

  it('passes chat to the chat callback, never to the injector, and only while the session is active', () => {
    expect(send({ t: 'chat', text: 'may I restart the printer spooler?' })).toBe('chat');
    active = false;
    expect(send({ t: 'chat', text: 'hello?' })).toBe('refused_inactive');
    expect(chats).toEqual(['s1: may I restart the printer spooler?']);
    expect(injector.calls).toEqual([]);
  });

  it('drops and counts what does not decode, telling unknown types from malformed ones', () => {
    grant();
    const outcomes = [
      gate.handle(SID, 'not json', 'reliable'),
      gate.handle(SID, JSON.stringify({ t: 'text', seq: 1, text: 'a'.repeat(MAX_CONTROL_MESSAGE_BYTES) }), 'reliable'),
      gate.handle(SID, JSON.stringify({ t: 'move', seq: 1, x: -0.1, y: 0 }), 'pointer'),
      gate.handle(SID, JSON.stringify({ t: 'keydown', seq: 1, code: 'KeyA', key: 'a' }), 'pointer'),
      gate.handle(SID, JSON.stringify({ t: 'move', seq: 1, x: 0, y: 0 }), 'reliable'),
      gate.handle(SID, new Uint8Array([1, 2, 3]), 'reliable'),
      gate.handle(SID, null, 'reliable'),
      gate.handle(SID, JSON.stringify({ t: 'paste', seq: 1, text: 'x' }), 'reliable'),
      gate.handle(SID, JSON.stringify({ t: '__proto__', seq: 1 }), 'reliable'),
      gate.handle(SID, JSON.stringify({ t: 'toString', seq: 1 }), 'reliable'),
    ];
    expect(outcomes).toEqual([...Array(7).fill('dropped_invalid'), 'dropped_unknown', 'dropped_unknown', 'dropped_unknown']);
    expect(injector.calls).toEqual([]);
  });

  it('drops events beyond 1,000 a second, garbage included, and lets the next second through', () => {
    grant();
    for (let i = 0; i < 999; i++) send({ t: 'move', x: 0.5, y: 0.5 });
    expect(gate.handle(SID, 'garbage', 'pointer')).toBe('dropped_invalid');
    expect(send({ t: 'move', x: 0.5, y: 0.5 })).toBe('dropped_rate');
    expect(gate.handle(SID, 'garbage', 'pointer')).toBe('dropped_rate');
    clock.t += 999;
    expect(send({ t: 'keydown', code: 'KeyA', key: 'a' })).toBe('dropped_rate');
    clock.t += 1;
    expect(send({ t: 'move', x: 0.5, y: 0.5 })).toBe('injected');
    expect(gate.counters).toMatchObject({ injected: 1000, dropped_rate: 3, dropped_invalid: 1 });
  });

  it('refuses the key that would complete the panic chord, in every order', () => {
    const keys: Record<ChordPart, { code: string; key: string }> = {
      Control: { code: 'ControlLeft', key: 'Control' },
      Alt: { code: 'AltRight', key: 'AltGraph' },
      Shift: { code: 'ShiftRight', key: 'Shift' },
      End: { code: 'End', key: 'End' },
    };
    const permutations = (xs: readonly ChordPart[]): ChordPart[][] =>
      xs.length <= 1 ? [[...xs]] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    grant();
    const orders = permutations(PANIC_CHORD.parts);
    expect(orders).toHaveLength(24);
    for (const order of orders) {
      const outcomes = order.map((p) => send({ t: 'keydown', ...keys[p] }));
      expect(outcomes).toEqual(['injected', 'injected', 'injected', 'refused_panic']);
      for (const p of order.slice(0, 3)) expect(send({ t: 'keyup', ...keys[p] })).toBe('injected');
    }
    expect(gate.counters.refused_panic).toBe(24);
  });

  it('matches the chord by code or by key, so a renamed key does not slip through', () => {
    grant();
    send({ t: 'keydown', code: 'ControlRight', key: 'Control' });
    send({ t: 'keydown', code: 'AltLeft', key: 'Alt' });
    send({ t: 'keydown', code: 'ShiftLeft', key: 'Shift' });
    for (const k of [
      { code: 'End', key: 'Unidentified' },
      { code: 'Numpad1', key: 'End' },
      { code: 'Numpad1', key: '1' },
      { code: 'IntlRo', key: 'End' },
    ]) {
      expect(send({ t: 'keydown', ...k })).toBe('refused_panic');
    }
    // Text presses Shift for capitals: refused while any part of the chord is held.
    expect(send({ t: 'text', text: 'A' })).toBe('refused_panic');
    expect(injector.calls.filter((c) => c.includes('End') || c.startsWith('text'))).toEqual([]);
  });

  it('lets shortcuts that share keys with the chord through', () => {
    grant();
    const combo = (...ks: { code: string; key: string }[]) => {
      const out = ks.map((k) => send({ t: 'keydown', ...k }));
      for (const k of ks) send({ t: 'keyup', ...k });
      return out;
    };
    const ctrl = { code: 'ControlLeft', key: 'Control' };
    const shift = { code: 'ShiftLeft', key: 'Shift' };
    const alt = { code: 'AltLeft', key: 'Alt' };
    const end = { code: 'End', key: 'End' };
    expect(combo(ctrl, end)).toEqual(['injected', 'injected']);
    expect(combo(ctrl, shift, end)).toEqual(['injected', 'injected', 'injected']);
    expect(combo(ctrl, alt, { code: 'Delete', key: 'Delete' })).toEqual(['injected', 'injected', 'injected']);
    expect(combo(ctrl, alt, shift, { code: 'KeyE', key: 'E' })).toEqual(['injected', 'injected', 'injected', 'injected']);
    expect(send({ t: 'text', text: 'after' })).toBe('injected');
  });

  it('releases held keys and buttons when control is taken back, and only then', async () => {
    grant();
    registry.acquire(SID, 'clipboard', { userAction: true, expiresAt: clock.t + 60_000, revoke: () => {} });
    send({ t: 'keydown', code: 'ShiftLeft', key: 'Shift' });
    send({ t: 'down', button: 'left', x: 0.2, y: 0.2 });
    await registry.revoke('clipboard');
    expect(injector.calls).not.toContain('releaseAll');
    await registry.revoke('control');
    expect(injector.calls.at(-1)).toBe('releaseAll');
    grant();
    // Released already: the analyst's late key and button releases have nothing to let go of.
    expect(send({ t: 'keyup', code: 'ShiftLeft', key: 'Shift' })).toBe('dropped_invalid');
    expect(send({ t: 'up', button: 'left', x: 0.2, y: 0.2 })).toBe('dropped_invalid');
  });

  it('releases on teardown, and the revoke listener is gone after close', async () => {
    grant();
    send({ t: 'keydown', code: 'KeyW', key: 'w' });
    expect(await registry.revokeAll(SID)).toEqual(['control']);
    expect(injector.calls).toEqual(['key KeyW down', 'releaseAll']);

    registry.openSession('s2', clock.t + 60_000);
    gate.close();
    injector.calls = [];
    registry.acquire('s2', 'control', { userAction: true, expiresAt: clock.t + 60_000, revoke: () => {} });
    await registry.revoke('control');
    expect(injector.calls).toEqual([]);
  });

  it('does not inject key releases or button releases it never pressed', () => {
    grant();
    expect(send({ t: 'keyup', code: 'ControlLeft', key: 'Control' })).toBe('dropped_invalid');
    expect(send({ t: 'up', button: 'middle', x: 0.5, y: 0.5 })).toBe('dropped_invalid');
    expect(injector.calls).toEqual([]);
  });

  it('counts keys with no mapping as unknown, and a failing injector without throwing', () => {
    grant();
    expect(send({ t: 'keydown', code: 'Quote', key: 'Dead' })).toBe('dropped_unknown');
    expect(send({ t: 'keyup', code: 'Quote', key: 'Dead' })).toBe('dropped_invalid');
    injector.failing = true;
    expect(send({ t: 'move', x: 0.5, y: 0.5 })).toBe('inject_failed');
    expect(() => gate.releaseAll()).not.toThrow();
    expect(gate.counters).toMatchObject({ dropped_unknown: 1, inject_failed: 1 });
  });
});

describe('panic chord', () => {
  it('is four keys, three of them modifiers', () => {
    expect(PANIC_CHORD.accelerator).toBe('Control+Alt+Shift+End');
    expect(chordPart('KeyA', 'a')).toBeNull();
    expect(chordPart('Home', 'Home')).toBeNull();
    expect(chordPart('MetaLeft', 'Meta')).toBeNull();
    expect(completesChord(['Control', 'Alt', 'Shift'], 'End')).toBe(true);
    expect(completesChord(['Control', 'Alt'], 'End')).toBe(false);
    expect(completesChord(['Control', 'Alt', 'End', 'End'], 'Alt')).toBe(false);
  });

  it('arms through the global shortcut port and refuses to pretend when the chord is taken', () => {
    const registered = new Map<string, () => void>();
    const shortcuts = {
      taken: false,
      register(acc: string, cb: () => void) {
        if (this.taken) return false;
        registered.set(acc, cb);
        return true;
      },
      unregister(acc: string) {
        registered.delete(acc);
      },
    };
    let panics = 0;
    const disarm = armPanicChord(shortcuts, () => panics++);
    registered.get('Control+Alt+Shift+End')?.();
    expect(panics).toBe(1);
    disarm();
    disarm();
    expect(registered.size).toBe(0);
    shortcuts.taken = true;
    expect(() => armPanicChord(shortcuts, () => panics++)).toThrow(/taken by another program/);
  });
});

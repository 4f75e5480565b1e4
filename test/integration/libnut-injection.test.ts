/**
 * The libnut adapter, the code Windows and macOS run, driven for real on Linux: remote input
 * through InputGate and libnut's Linux binary into a real, headed Chromium on a private Xvfb.
 * What the page sees and what the X server reports are the evidence.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../main/clock.js';
import { FileGrantJournal } from '../../main/grant-journal.js';
import { GrantRegistry } from '../../main/grants.js';
import { InputGate } from '../../main/input-gate.js';
import { LibnutInjector } from '../../main/injectors/libnut.js';
import { loadLibnut, type Libnut } from '../../main/injectors/libnut-module.js';
import { createLibnutInjector } from '../../main/injectors/libnut-setup.js';
import { missingDisplayTools, mouseLocation } from '../../kit/xvfb.js';
import { H, openInjectionDesk, W, type InjectionDesk } from '../helpers/injection-page.js';
import { skipWithout } from '../helpers/needs-tools.js';

const skip = skipWithout('libnut injection into a real Chromium window on Xvfb', missingDisplayTools({ chromium: true }));

describe.skipIf(skip)('libnut injection into a real Chromium window on Xvfb', () => {
  const SID = 'sess-libnut';
  let desk: InjectionDesk;
  let lib: Libnut;
  let injector: LibnutInjector;
  let registry: GrantRegistry;
  let gate: InputGate;
  let tmp: string;
  let seq = 0;
  let run = 0;

  const send = (msg: Record<string, unknown>) => gate.handle(SID, JSON.stringify({ seq: seq++, ...msg }), msg.t === 'move' ? 'pointer' : 'reliable');
  const grantControl = () => expect(registry.acquire(SID, 'control', { userAction: true, expiresAt: Date.now() + 600_000, revoke: () => {} }).ok).toBe(true);
  const focusInput = async () => {
    const p = desk.at(300, 320);
    send({ t: 'move', ...p });
    send({ t: 'down', button: 'left', ...p });
    send({ t: 'up', button: 'left', ...p });
    await expect.poll(() => desk.page.evaluate(() => document.activeElement?.id), { timeout: 5000 }).toBe('i');
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-libnut-'));
    desk = await openInjectionDesk();
    lib = loadLibnut('linux');
    injector = await createLibnutInjector({ os: 'linux', xDisplay: desk.xvfb.display, lib });
  }, 60_000);

  afterAll(async () => {
    await injector?.close();
    await desk?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  beforeEach(() => {
    registry = new GrantRegistry({ clock: systemClock, journal: new FileGrantJournal(path.join(tmp, `grants-${run++}.json`)) });
    registry.openSession(SID, Date.now() + 3_600_000);
    gate = new InputGate({ grants: registry, isSessionActive: (id) => id === SID, injector });
  });

  afterEach(async () => {
    await registry.revokeAll(SID);
    gate.close();
  });

  it('takes the whole X screen by default and lands the pointer where the coordinates say, as a trusted event', async () => {
    expect(injector.screen).toEqual({ x: 0, y: 0, width: W, height: H });
    grantControl();
    expect(send({ t: 'move', x: 0.25, y: 0.5 })).toBe('injected');
    expect(await mouseLocation(desk.xvfb.display)).toEqual({ x: 320, y: 360 });
    send({ t: 'move', x: 1, y: 1 });
    expect(await mouseLocation(desk.xvfb.display)).toEqual({ x: W - 1, y: H - 1 });
    send({ t: 'move', ...desk.at(450, 20) });
    await expect.poll(async () => (await desk.state()).lastMove, { timeout: 5000 }).toMatchObject({ x: desk.origin.x + 450, y: desk.origin.y + 20, trusted: true });
  });

  it('maps onto a shared display that starts away from 0,0', async () => {
    const part = await createLibnutInjector({ os: 'linux', xDisplay: desk.xvfb.display, lib, display: { bounds: { x: 320, y: 180, width: 640, height: 360 }, scaleFactor: 1 } });
    part.move(0, 0);
    expect(await mouseLocation(desk.xvfb.display)).toEqual({ x: 320, y: 180 });
    part.move(1, 1);
    expect(await mouseLocation(desk.xvfb.display)).toEqual({ x: 959, y: 539 });
    part.move(0.5, 0.5);
    expect(await mouseLocation(desk.xvfb.display)).toEqual({ x: 640, y: 360 });
    await part.close();
  });

  it('a click on the button runs its handler with a trusted event', async () => {
    grantControl();
    const before = (await desk.state()).clicks.length;
    const p = desk.at(200, 140);
    send({ t: 'move', ...p });
    send({ t: 'down', button: 'left', ...p });
    send({ t: 'up', button: 'left', ...p });
    await expect.poll(async () => (await desk.state()).clicks.length, { timeout: 5000 }).toBe(before + 1);
    expect((await desk.state()).clicks.at(-1)).toEqual({ trusted: true });
  });

  it('typed text, shifted punctuation, key presses and a shortcut land in the input', async () => {
    grantControl();
    await focusInput();
    expect(send({ t: 'text', text: 'Hello, World! 42 ~"x" <a@b.c> (1+1=2)?' })).toBe('injected');
    for (const [code, key] of [['KeyQ', 'q'], ['Backspace', 'Backspace'], ['KeyZ', 'z']] as const) {
      expect(send({ t: 'keydown', code, key })).toBe('injected');
      expect(send({ t: 'keyup', code, key })).toBe('injected');
    }
    send({ t: 'keydown', code: 'ShiftLeft', key: 'Shift' });
    send({ t: 'keydown', code: 'KeyK', key: 'K' });
    send({ t: 'keyup', code: 'KeyK', key: 'K' });
    send({ t: 'keyup', code: 'ShiftLeft', key: 'Shift' });
    await expect.poll(async () => (await desk.state()).value, { timeout: 5000 }).toBe('Hello, World! 42 ~"x" <a@b.c> (1+1=2)?zK');
    // Ctrl+A selects all; the next text replaces it.
    send({ t: 'keydown', code: 'ControlLeft', key: 'Control' });
    send({ t: 'keydown', code: 'KeyA', key: 'a' });
    send({ t: 'keyup', code: 'KeyA', key: 'a' });
    send({ t: 'keyup', code: 'ControlLeft', key: 'Control' });
    send({ t: 'text', text: 'new' });
    await expect.poll(async () => (await desk.state()).value, { timeout: 5000 }).toBe('new');
    const keys = (await desk.state()).log.filter((e) => e.t === 'keydown');
    expect(keys.every((e) => e.trusted)).toBe(true);
    expect(keys.some((e) => e.key === 'a' && e.ctrl)).toBe(true);
    expect(await desk.keysDown()).toEqual([]);
  });

  it('characters libnut cannot type on Linux (é, ß, €) are refused and counted, never typed as something else', async () => {
    grantControl();
    await focusInput();
    send({ t: 'keydown', code: 'ControlLeft', key: 'Control' });
    send({ t: 'keydown', code: 'KeyA', key: 'a' });
    send({ t: 'keyup', code: 'KeyA', key: 'a' });
    send({ t: 'keyup', code: 'ControlLeft', key: 'Control' });
    send({ t: 'text', text: 'x' });
    await expect.poll(async () => (await desk.state()).value, { timeout: 5000 }).toBe('x');
    const refusedBefore = injector.refused.chars;
    expect(send({ t: 'text', text: 'aéßb€c' })).toBe('injected');
    await desk.barrier();
    expect((await desk.state()).value).toBe('xabc');
    expect(injector.refused.chars - refusedBefore).toBe(3);
    // A key press whose only character is not ASCII (and no shortcut position) is refused too.
    expect(send({ t: 'keydown', code: 'IntlRo', key: 'ß' })).toBe('dropped_unknown');
    expect(await desk.keysDown()).toEqual([]);
  });

  it('the wheel scrolls the page down and back up', async () => {
    grantControl();
    send({ t: 'move', ...desk.at(700, 400) });
    expect(send({ t: 'wheel', dx: 0, dy: 5 })).toBe('injected');
    await expect.poll(async () => (await desk.state()).scrollY, { timeout: 5000 }).toBeGreaterThan(0);
    send({ t: 'wheel', dx: 0, dy: -50 });
    await expect.poll(async () => (await desk.state()).scrollY, { timeout: 5000 }).toBe(0);
  });

  it('taking control back while a key and a button are held releases both', async () => {
    grantControl();
    const spot = desk.at(800, 250);
    send({ t: 'move', ...spot });
    expect(send({ t: 'keydown', code: 'ShiftLeft', key: 'Shift' })).toBe('injected');
    expect(send({ t: 'down', button: 'left', ...spot })).toBe('injected');
    expect((await desk.pointer()).keyMask & 0x101).toBe(0x101); // ShiftMask and Button1Mask
    expect((await desk.keysDown()).length).toBe(1);
    expect(await registry.revoke('control')).toBe(true);
    expect((await desk.pointer()).keyMask & 0x1f0d).toBe(0);
    expect(await desk.keysDown()).toEqual([]);
    expect(send({ t: 'keyup', code: 'ShiftLeft', key: 'Shift' })).toBe('refused_no_grant');
  });

  it('the panic chord cannot be injected through libnut either', async () => {
    grantControl();
    for (const [code, key] of [['ControlLeft', 'Control'], ['AltLeft', 'Alt'], ['ShiftLeft', 'Shift']] as const) expect(send({ t: 'keydown', code, key })).toBe('injected');
    expect(send({ t: 'keydown', code: 'End', key: 'End' })).toBe('refused_panic');
    expect(send({ t: 'text', text: 'ABC' })).toBe('refused_panic');
    for (const [code, key] of [['ControlLeft', 'Control'], ['AltLeft', 'Alt'], ['ShiftLeft', 'Shift']] as const) send({ t: 'keyup', code, key });
    await desk.barrier();
    expect((await desk.state()).chordSeen).toBe(false);
    expect(await desk.keysDown()).toEqual([]);
  });

  it('measures per-event injection time (each call returns once the X server has the event)', () => {
    const n = 1000;
    const rt: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      injector.move((i % 500) / 1000, 0.8);
      rt.push(performance.now() - t);
    }
    rt.sort((a, b) => a - b);
    const avg = rt.reduce((a, b) => a + b, 0) / n;
    console.log(`[libnut] ${n} moves: ${avg.toFixed(3)} ms avg, ${rt[Math.floor(n * 0.99)]!.toFixed(3)} ms p99 (synchronous, XSync each)`);
    expect(avg).toBeLessThan(5);
  });
});

/**
 * Remote input through InputGate and the XTEST injector into a real, headed Chromium on a private
 * Xvfb. What the page sees (trusted events, typed text, clicks) and what the X server reports
 * (pointer position, keys and buttons down) are the evidence; nothing here is simulated.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import x11 from 'x11';
import { MAX_CONTROL_MESSAGE_BYTES } from '../../common/control/protocol.js';
import { systemClock } from '../../main/clock.js';
import { FileGrantJournal } from '../../main/grant-journal.js';
import { GrantRegistry } from '../../main/grants.js';
import { InputGate } from '../../main/input-gate.js';
import { createXTestInjector, type XTestInjector } from '../../main/injectors/xtest.js';
import { CHROMIUM_PATH, missingDisplayTools, mouseLocation, startXvfb, xdotool, type Xvfb } from '../../kit/xvfb.js';
import { skipWithout } from '../helpers/needs-tools.js';

const skip = skipWithout('XTEST injection into a real Chromium window on Xvfb', missingDisplayTools({ chromium: true }));

const W = 1280;
const H = 720;
const PAGE = `<!doctype html><html><body style="margin:0;background:#fff">
<button id="b" style="position:absolute;left:100px;top:100px;width:200px;height:80px">Press</button>
<input id="i" style="position:absolute;left:100px;top:300px;width:400px;height:40px">
<script>
  window.log = [];
  window.clicks = [];
  window.lastMove = null;
  window.down = new Set();
  window.chordSeen = false;
  document.getElementById('b').addEventListener('click', (e) => clicks.push({ trusted: e.isTrusted }));
  addEventListener('mousemove', (e) => { lastMove = { x: e.screenX, y: e.screenY, cx: e.clientX, cy: e.clientY, trusted: e.isTrusted }; }, true);
  for (const t of ['mousedown', 'mouseup', 'keydown', 'keyup']) {
    addEventListener(t, (e) => {
      log.push({ t, key: e.key, code: e.code, button: e.button, trusted: e.isTrusted });
      if (t === 'keydown') down.add(e.key);
      if (t === 'keyup') down.delete(e.key);
      if (['Control', 'Alt', 'Shift', 'End'].every((k) => down.has(k))) chordSeen = true;
    }, true);
  }
</script></body></html>`;

type PageLog = { t: string; key?: string; code?: string; button?: number; trusted: boolean };

describe.skipIf(skip)('XTEST injection into a real Chromium window on Xvfb', () => {
  const SID = 'sess-xtest';
  let xvfb: Xvfb;
  let browser: Browser;
  let page: Page;
  let injector: XTestInjector;
  let observer: x11.XClient;
  let root: number;
  let registry: GrantRegistry;
  let gate: InputGate;
  let active: boolean;
  let tmp: string;
  /** Where the page's client area starts on the X screen (below Chromium's toolbar). */
  let origin: { x: number; y: number };
  let seq = 0;
  let run = 0;

  const send = (g: InputGate, msg: Record<string, unknown>, sessionId = SID) =>
    g.handle(sessionId, JSON.stringify({ seq: seq++, ...msg }), msg.t === 'move' ? 'pointer' : 'reliable');
  const at = (clientX: number, clientY: number) => ({ x: (origin.x + clientX) / W, y: (origin.y + clientY) / H });
  const pageState = () =>
    page.evaluate(() => {
      const w = window as unknown as { log: PageLog[]; clicks: { trusted: boolean }[]; lastMove: { x: number; y: number; cx: number; cy: number; trusted: boolean } | null; chordSeen: boolean };
      return { log: w.log, clicks: w.clicks, lastMove: w.lastMove, chordSeen: w.chordSeen, value: (document.getElementById('i') as HTMLInputElement).value };
    });
  const grantControl = () => {
    const r = registry.acquire(SID, 'control', { userAction: true, expiresAt: Date.now() + 600_000, revoke: () => {} });
    expect(r.ok).toBe(true);
  };
  const query = <T>(fn: (cb: (err: Error | null, v: T) => void) => void) =>
    new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
  const xPointer = () => query<x11.XPointer>((cb) => observer.QueryPointer(root, cb));
  const keysDown = async () => {
    const bits = await query<Buffer>((cb) => observer.QueryKeymap(cb));
    const codes: number[] = [];
    for (let kc = 0; kc < 256; kc++) if (((bits[kc >> 3] ?? 0) >> (kc & 7)) & 1) codes.push(kc);
    return codes;
  };

  /**
   * Anything the gate let through reached the X server before this returns, and the page has
   * handled it: a move by another X client (xdotool, like the end user's own mouse) is queued
   * behind it, and the page must see that move first.
   */
  const barrier = async () => {
    await injector.sync();
    const now = await mouseLocation(xvfb.display);
    const spot = { x: now.x === 700 ? 710 : 700, y: 600 };
    await xdotool(xvfb.display, ['mousemove', String(spot.x), String(spot.y)]);
    await expect.poll(async () => (await pageState()).lastMove, { timeout: 5000 }).toMatchObject(spot);
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-xtest-'));
    xvfb = await startXvfb({ width: W, height: H });
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: false,
      env: { ...process.env, DISPLAY: xvfb.display },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--window-position=0,0',
        `--window-size=${W},${H}`,
      ],
    });
    page = await (await browser.newContext({ viewport: null })).newPage();
    await page.setContent(PAGE);
    injector = await createXTestInjector({ display: xvfb.display, onError: (e) => console.error('[xtest]', e) });
    await new Promise<void>((resolve, reject) => {
      observer = x11.createClient({ display: xvfb.display, shm: false }, (err, d) => {
        if (err) return reject(err);
        root = d.screen[0]!.root;
        resolve();
      });
    });
    // Calibrate: the page's client area sits below the browser's toolbar.
    await xdotool(xvfb.display, ['mousemove', '640', '400']);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = (await pageState()).lastMove;
      if (m?.x === 640 && m.y === 400) {
        origin = { x: m.x - m.cx, y: m.y - m.cy };
        break;
      }
      if (Date.now() > deadline) throw new Error(`the page never saw the calibration move (last: ${JSON.stringify(m)})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 60_000);

  afterAll(async () => {
    await injector?.close();
    observer?.terminate();
    await browser?.close();
    await xvfb?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  beforeEach(() => {
    registry = new GrantRegistry({ clock: systemClock, journal: new FileGrantJournal(path.join(tmp, `grants-${run++}.json`)) });
    registry.openSession(SID, Date.now() + 3_600_000);
    active = true;
    gate = new InputGate({ grants: registry, isSessionActive: (id) => id === SID && active, injector });
  });

  afterEach(async () => {
    await registry.revokeAll(SID);
    gate.close();
  });

  it('a move lands the pointer where the normalised coordinates say, as a trusted event', async () => {
    grantControl();
    expect(send(gate, { t: 'move', x: 0.25, y: 0.5 })).toBe('injected');
    await injector.sync();
    expect(await mouseLocation(xvfb.display)).toEqual({ x: 320, y: 360 });
    expect(send(gate, { t: 'move', x: 1, y: 1 })).toBe('injected');
    await injector.sync();
    expect(await mouseLocation(xvfb.display)).toEqual({ x: W - 1, y: H - 1 });
    const p = at(450, 20);
    send(gate, { t: 'move', ...p });
    await expect.poll(async () => (await pageState()).lastMove, { timeout: 5000 }).toMatchObject({ x: origin.x + 450, y: origin.y + 20, trusted: true });
    expect(gate.counters.injected).toBe(3);
  });

  it('a click on the button runs its handler with a trusted event', async () => {
    grantControl();
    const before = (await pageState()).clicks.length;
    const p = at(200, 140);
    send(gate, { t: 'move', ...p });
    send(gate, { t: 'down', button: 'left', ...p });
    send(gate, { t: 'up', button: 'left', ...p });
    await expect.poll(async () => (await pageState()).clicks.length, { timeout: 5000 }).toBe(before + 1);
    expect((await pageState()).clicks.at(-1)).toEqual({ trusted: true });
  });

  it('typed text and key presses land in the input', async () => {
    grantControl();
    const p = at(300, 320);
    send(gate, { t: 'down', button: 'left', ...p });
    send(gate, { t: 'up', button: 'left', ...p });
    await expect.poll(() => page.evaluate(() => document.activeElement?.id), { timeout: 5000 }).toBe('i');
    expect(send(gate, { t: 'text', text: 'Hello, World! 42 ~"x"' })).toBe('injected');
    for (const [code, key] of [['KeyQ', 'q'], ['Backspace', 'Backspace'], ['KeyZ', 'z']] as const) {
      expect(send(gate, { t: 'keydown', code, key })).toBe('injected');
      expect(send(gate, { t: 'keyup', code, key })).toBe('injected');
    }
    // Capitals by holding Shift, as a browser on the analyst's side reports them.
    send(gate, { t: 'keydown', code: 'ShiftLeft', key: 'Shift' });
    send(gate, { t: 'keydown', code: 'KeyK', key: 'K' });
    send(gate, { t: 'keyup', code: 'KeyK', key: 'K' });
    send(gate, { t: 'keyup', code: 'ShiftLeft', key: 'Shift' });
    // Characters the US layout lacks go through a borrowed keycode.
    expect(send(gate, { t: 'text', text: 'éß€' })).toBe('injected');
    await expect.poll(async () => (await pageState()).value, { timeout: 5000 }).toBe('Hello, World! 42 ~"x"zKéß€');
    const keys = (await pageState()).log.filter((e) => e.t === 'keydown');
    expect(keys.every((e) => e.trusted)).toBe(true);
    expect(await keysDown()).toEqual([]);
  });

  it('without the control grant, after revoke, or for an inactive session nothing reaches the screen', async () => {
    const before = await pageState();
    await injector.sync();
    const pointer = await mouseLocation(xvfb.display);
    const attempt = (sessionId = SID) => {
      const b = at(200, 140);
      return [
        send(gate, { t: 'move', x: 0.1, y: 0.1 }, sessionId),
        send(gate, { t: 'down', button: 'left', ...b }, sessionId),
        send(gate, { t: 'up', button: 'left', ...b }, sessionId),
        send(gate, { t: 'text', text: 'nope' }, sessionId),
        send(gate, { t: 'keydown', code: 'KeyN', key: 'n' }, sessionId),
        send(gate, { t: 'wheel', dx: 0, dy: 3 }, sessionId),
      ];
    };

    expect(new Set(attempt())).toEqual(new Set(['refused_no_grant']));
    grantControl();
    // Control granted to this session does not reach another, even an active one.
    expect(new Set(attempt('sess-someone-else'))).toEqual(new Set(['refused_inactive']));
    expect(await registry.revoke('control')).toBe(true);
    expect(new Set(attempt())).toEqual(new Set(['refused_no_grant']));
    grantControl();
    active = false;
    expect(new Set(attempt())).toEqual(new Set(['refused_inactive']));

    await injector.sync();
    expect(await mouseLocation(xvfb.display)).toEqual(pointer);
    await barrier();
    const after = await pageState();
    expect(after.clicks).toEqual(before.clicks);
    expect(after.value).toBe(before.value);
    expect(after.log.length).toBe(before.log.length);
    expect(gate.counters).toMatchObject({ injected: 0, refused_no_grant: 12, refused_inactive: 12 });
  });

  it('malformed, oversized, unknown and misrouted messages change nothing and are counted', async () => {
    grantControl();
    const before = await pageState();
    await injector.sync();
    const pointer = await mouseLocation(xvfb.display);
    const outcomes = [
      gate.handle(SID, '{"t":"move","x":0.5', 'pointer'),
      gate.handle(SID, JSON.stringify({ t: 'move', seq: 1, x: 2, y: 0.5 }), 'pointer'),
      gate.handle(SID, JSON.stringify({ t: 'move', seq: 1, x: 0.5, y: 0.5, extra: 1 }), 'pointer'),
      gate.handle(SID, JSON.stringify({ t: 'text', seq: 1, text: 'x'.repeat(MAX_CONTROL_MESSAGE_BYTES) }), 'reliable'),
      gate.handle(SID, JSON.stringify({ t: 'move', seq: 1, x: 0.5, y: 0.5 }), 'reliable'),
      gate.handle(SID, JSON.stringify({ t: 'keydown', seq: 1, code: 'Key A', key: 'a' }), 'reliable'),
      gate.handle(SID, { t: 'move', seq: 1, x: 0.5, y: 0.5 }, 'pointer'),
      gate.handle(SID, JSON.stringify({ t: 'exec', seq: 1, cmd: 'rm -rf /' }), 'reliable'),
      gate.handle(SID, JSON.stringify({ t: 'clipboard', seq: 1, text: 'secret' }), 'reliable'),
    ];
    expect(outcomes).toEqual([
      'dropped_invalid',
      'dropped_invalid',
      'dropped_invalid',
      'dropped_invalid',
      'dropped_invalid',
      'dropped_invalid',
      'dropped_invalid',
      'dropped_unknown',
      'dropped_unknown',
    ]);
    await injector.sync();
    expect(await mouseLocation(xvfb.display)).toEqual(pointer);
    await barrier();
    const after = await pageState();
    expect(after.log.length).toBe(before.log.length);
    expect(after.value).toBe(before.value);
    expect(gate.counters).toMatchObject({ injected: 0, dropped_invalid: 7, dropped_unknown: 2 });
  });

  it('a flood beyond 1,000 events a second is dropped before it reaches the screen', async () => {
    grantControl();
    const started = performance.now();
    for (let i = 0; i < 1000; i++) send(gate, { t: 'move', x: 0.3, y: 0.3 });
    for (let i = 0; i < 1500; i++) send(gate, { t: 'move', x: 0.9, y: 0.9 });
    const elapsed = performance.now() - started;
    // Otherwise the limiter's window could have rolled over mid-flood and the test would prove nothing.
    expect(elapsed).toBeLessThan(1000);
    await injector.sync();
    expect(await mouseLocation(xvfb.display)).toEqual({ x: Math.round(0.3 * W), y: Math.round(0.3 * H) });
    expect(gate.counters).toMatchObject({ injected: 1000, dropped_rate: 1500 });
  });

  it('the panic chord cannot be injected, in any order, nor completed by typed text', async () => {
    grantControl();
    const mods = [
      ['ControlLeft', 'Control'],
      ['AltLeft', 'Alt'],
      ['ShiftLeft', 'Shift'],
    ] as const;
    for (const [code, key] of mods) expect(send(gate, { t: 'keydown', code, key })).toBe('injected');
    expect(send(gate, { t: 'keydown', code: 'End', key: 'End' })).toBe('refused_panic');
    expect(send(gate, { t: 'keydown', code: 'Numpad1', key: 'End' })).toBe('refused_panic');
    expect(send(gate, { t: 'keydown', code: 'Unidentified', key: 'End' })).toBe('refused_panic');
    for (const [code, key] of mods) send(gate, { t: 'keyup', code, key });

    // End first, modifiers after: a held End auto-repeats into the chord, so the last one is refused.
    expect(send(gate, { t: 'keydown', code: 'End', key: 'End' })).toBe('injected');
    expect(send(gate, { t: 'keydown', code: 'ControlRight', key: 'Control' })).toBe('injected');
    expect(send(gate, { t: 'keydown', code: 'AltRight', key: 'Alt' })).toBe('injected');
    expect(send(gate, { t: 'keydown', code: 'ShiftRight', key: 'Shift' })).toBe('refused_panic');
    // Capitals would press Shift.
    expect(send(gate, { t: 'text', text: 'ABC' })).toBe('refused_panic');
    await injector.sync();
    const down = await keysDown();
    expect(down.length).toBe(3);
    for (const code of ['End', 'ControlRight', 'AltRight']) send(gate, { t: 'keyup', code, key: code });
    await injector.sync();
    expect(await keysDown()).toEqual([]);
    await barrier();
    expect((await pageState()).chordSeen).toBe(false);
    expect(gate.counters.refused_panic).toBe(5);

    // The same chord pressed by the end user (another X client) is seen: the check above is not vacuous.
    await xdotool(xvfb.display, ['key', 'ctrl+alt+shift+End']);
    await expect.poll(async () => (await pageState()).chordSeen, { timeout: 5000 }).toBe(true);
  });

  it('taking control back while a key and a button are held releases both', async () => {
    grantControl();
    const spot = at(800, 250);
    send(gate, { t: 'move', ...spot });
    expect(send(gate, { t: 'keydown', code: 'ShiftLeft', key: 'Shift' })).toBe('injected');
    expect(send(gate, { t: 'down', button: 'left', ...spot })).toBe('injected');
    await injector.sync();
    const held = await xPointer();
    expect(held.keyMask & 0x101).toBe(0x101); // ShiftMask and Button1Mask
    expect((await keysDown()).length).toBe(1);

    const logBefore = (await pageState()).log.length;
    expect(await registry.revoke('control')).toBe(true);
    await injector.sync();
    expect((await xPointer()).keyMask & 0x1f0d).toBe(0); // Shift, Control, Mod1 and all buttons
    expect(await keysDown()).toEqual([]);
    await expect
      .poll(async () => (await pageState()).log.slice(logBefore).map((e) => `${e.t}:${e.key ?? ''}`), { timeout: 5000 })
      .toEqual(expect.arrayContaining(['keyup:Shift', 'mouseup:']));
    // The late keyup of the analyst's Shift has nothing left to release.
    expect(send(gate, { t: 'keyup', code: 'ShiftLeft', key: 'Shift' })).toBe('refused_no_grant');
  });

  it('teardown revokes control and reports it; the session cannot inject afterwards', async () => {
    grantControl();
    expect(send(gate, { t: 'keydown', code: 'ControlLeft', key: 'Control' })).toBe('injected');
    expect(await registry.revokeAll(SID)).toEqual(['control']);
    expect(await registry.revokeAll(SID)).toEqual([]);
    await injector.sync();
    expect(await keysDown()).toEqual([]);
    expect(registry.acquire(SID, 'control', { userAction: true, expiresAt: Date.now() + 60_000, revoke: () => {} })).toEqual({ ok: false, reason: 'session_ended' });
    expect(send(gate, { t: 'move', x: 0.5, y: 0.5 })).toBe('refused_no_grant');
  });

  it('measures per-event injection time', async () => {
    const n = 1000;
    const rt: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      injector.move((i % 500) / 1000, 0.8);
      await injector.sync();
      rt.push(performance.now() - t);
    }
    rt.sort((a, b) => a - b);
    const avgRt = rt.reduce((a, b) => a + b, 0) / n;
    const p99Rt = rt[Math.floor(n * 0.99)]!;

    grantControl();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) send(gate, { t: 'move', x: (i % 500) / 1000, y: 0.7 });
    const gateAvg = (performance.now() - t0) / n;
    await injector.sync();
    console.log(
      `[xtest] ${n} moves: processed by the X server ${avgRt.toFixed(3)} ms avg, ${p99Rt.toFixed(3)} ms p99 (one round trip each); ` +
        `InputGate.handle (decode, checks, write) ${(gateAvg * 1000).toFixed(1)} µs avg`,
    );
    expect(gate.counters.injected).toBe(n);
    // A loose bound: the p99 goal belongs to the benchmark, not to a test sharing two cores.
    expect(avgRt).toBeLessThan(5);
  });
});

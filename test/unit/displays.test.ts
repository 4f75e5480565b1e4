import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileGrantJournal } from '../../main/grant-journal.js';
import { GrantRegistry } from '../../main/grants.js';
import { InputGate } from '../../main/input-gate.js';
import { toPixel, type Injector, type ScreenRect } from '../../main/injector.js';
import { inDeskOrder, onDesktop, viewOf } from '../../main/displays.js';
import { parseListMonitors } from '../../main/displays-x11.js';
import { ElectronDisplays, desktopInfo } from '../../main/electron/displays-electron.js';
import { inputRect } from '../../main/injectors/desktop-coordinates.js';
import { decodeSessionMessage } from '../../common/control/protocol.js';

const LEFT: ScreenRect = { x: 0, y: 0, width: 1280, height: 720 };
const RIGHT: ScreenRect = { x: 1280, y: 0, width: 1280, height: 720 };
const DESK: ScreenRect = { x: 0, y: 0, width: 2560, height: 720 };

describe('a point on the picture of one display lands on that display', () => {
  const px = (n: number, shown: ScreenRect) => toPixel(onDesktop(n, shown.x, shown.width, DESK.x, DESK.width), DESK.x, DESK.width);

  it('maps the picture of display 2 onto its columns, edges included, never onto display 1', () => {
    expect(px(0, RIGHT)).toBe(1280);
    expect(px(0.5, RIGHT)).toBe(1920);
    expect(px(1, RIGHT)).toBe(2559);
    expect(px(1, LEFT)).toBe(1279);
    // Every pixel of the picture is its own pixel on the desktop.
    for (let i = 0; i < 1280; i += 37) expect(px(i / 1280, RIGHT)).toBe(1280 + i);
  });

  it('the input gate moves the pointer through the shown display, and back to the whole desktop', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-displays-'));
    try {
      let t = 1_700_000_000_000;
      const clock = { now: () => t, at: () => () => {} };
      const registry = new GrantRegistry({ clock, journal: new FileGrantJournal(path.join(dir, 'grants.json')) });
      registry.openSession('s1', t + 3_600_000);
      expect(registry.acquire('s1', 'control', { userAction: true, expiresAt: t + 60_000, revoke: () => {} }).ok).toBe(true);
      const moves: number[][] = [];
      const injector: Injector = {
        screen: DESK,
        move: (x, y) => moves.push([toPixel(x, DESK.x, DESK.width), toPixel(y, DESK.y, DESK.height)]),
        button: () => {},
        wheel: () => {},
        key: () => true,
        text: () => {},
        releaseAll: () => {},
        close: async () => {},
      };
      const gate = new InputGate({ grants: registry, isSessionActive: () => true, injector, now: () => t });
      let seq = 0;
      const move = (x: number, y: number) => gate.handle('s1', JSON.stringify({ t: 'move', seq: seq++, x, y }), 'pointer');
      gate.showDisplay(RIGHT);
      expect(move(0.25, 0.5)).toBe('injected');
      gate.showDisplay(LEFT);
      expect(move(0.25, 0.5)).toBe('injected');
      gate.showDisplay(null);
      t += 10;
      expect(move(0.75, 0.5)).toBe('injected');
      expect(moves).toEqual([
        [1600, 360],
        [320, 360],
        [1920, 360],
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the displays main lists', () => {
  it('reads the X server monitors from xrandr --listmonitors, flags and all', () => {
    const out = 'Monitors: 2\n 0: LEFT 1280/338x720/190+0+0  screen\n 1: +*RIGHT 1280/338x720/190+1280+0 \n';
    expect(parseListMonitors(out)).toEqual([
      { name: 'LEFT', rect: LEFT },
      { name: 'RIGHT', rect: RIGHT },
    ]);
  });

  it('numbers displays left to right, whatever order the system lists them in', () => {
    const list = inDeskOrder([
      { id: 'screen:2:0', rect: RIGHT },
      { id: 'screen:1:0', rect: LEFT },
    ]);
    expect(list.map((d) => viewOf(list, d))).toEqual([
      { id: 'screen:1:0', index: 1, width: 1280, height: 720 },
      { id: 'screen:2:0', index: 2, width: 1280, height: 720 },
    ]);
  });

  it("Electron: each screen source gets its display's rectangle, in the injector's coordinates of the whole desktop", async () => {
    // Windows at 150% on the primary, 100% on the second to its left.
    const screen = {
      getAllDisplays: () => [
        { id: 10, bounds: { x: 0, y: 0, width: 1707, height: 960 }, scaleFactor: 1.5 },
        { id: 11, bounds: { x: -1920, y: 0, width: 1920, height: 1080 }, scaleFactor: 1 },
      ],
      dipToScreenRect: (_w: null, r: ScreenRect) => (r.x < 0 ? r : { x: 0, y: 0, width: 2560, height: 1440 }),
    };
    const sources = async () => [
      { id: 'screen:10:0', name: 'Screen 1', display_id: '10' },
      { id: 'screen:11:0', name: 'Screen 2', display_id: '11' },
    ];
    const list = await new ElectronDisplays(screen, sources, 'win32').list();
    expect(list).toEqual([
      { id: 'screen:10:0', rect: { x: 0, y: 0, width: 2560, height: 1440 } },
      { id: 'screen:11:0', rect: { x: -1920, y: 0, width: 1920, height: 1080 } },
    ]);
    expect(inputRect(desktopInfo(screen, 'win32'), 'win32')).toEqual({ x: -1920, y: 0, width: 4480, height: 1440 });
    expect(inDeskOrder(list)[0]!.id).toBe('screen:11:0');
  });
});

describe("the 'display' session message", () => {
  it('carries index, count and size, and nothing else', () => {
    expect(decodeSessionMessage(JSON.stringify({ t: 'display', seq: 3, index: 2, count: 2, width: 1280, height: 720 }))).toEqual({ ok: true, msg: { t: 'display', seq: 3, index: 2, count: 2, width: 1280, height: 720 } });
    for (const bad of [
      { t: 'display', seq: 3, index: 0, count: 2, width: 1280, height: 720 },
      { t: 'display', seq: 3, index: 2, count: 17, width: 1280, height: 720 },
      { t: 'display', seq: 3, index: 1, count: 2, width: 1280.5, height: 720 },
      { t: 'display', seq: 3, index: 1, count: 2, width: 1280, height: 720, id: 'screen:1:0' },
      { t: 'display', seq: 3, index: 1, count: 2, width: 1280 },
    ]) {
      expect(decodeSessionMessage(JSON.stringify(bad))).toEqual({ ok: false });
    }
  });
});

import x11 from 'x11';
import { toPixel, type Injector, type PointerButton, type ScreenRect } from '../injector.js';
import { keysymForChar, keysymForKey, XK } from './x11-keysyms.js';

/**
 * Linux X11 input through the XTEST extension, spoken by the pure-JavaScript `x11` package over
 * the display's socket, in-process.
 *
 * Why this route: spawning xdotool costs a process per event (about 2.7 ms, and two cores do not
 * have many of those at 1,000 events/s); libnut is a native addon that segfaults the whole main
 * process when DISPLAY is unset and has to match Electron's ABI. Here each event is one 36-byte
 * request written straight to the socket, a lost X server is an 'end' event rather than a crash,
 * and there is nothing to build.
 */

/** How long clients get to pick up a changed keymap before a borrowed key is pressed. */
const REMAP_SETTLE_MS = 50;

export interface XTestOptions {
  /** X11 display name, such as ":0". */
  display: string | undefined;
  /** The captured screen; defaults to the whole root window. */
  screen?: ScreenRect;
  /** Asynchronous X errors and the loss of the connection. */
  onError?: (err: Error) => void;
  connectTimeoutMs?: number;
}

const BUTTON: Record<PointerButton, number> = { left: 1, middle: 2, right: 3 };
const WHEEL = { up: 4, down: 5, left: 6, right: 7 } as const;

export async function createXTestInjector(opts: XTestOptions): Promise<XTestInjector> {
  if (!opts.display) throw new Error('no X display to inject into: DISPLAY is not set');
  const onError = opts.onError ?? (() => {});
  const display = await connect(opts.display, opts.connectTimeoutMs ?? 5000, onError);
  const X = display.client;
  try {
    const xtest = await new Promise<x11.XTest>((resolve, reject) =>
      X.require('xtest', (err, ext) => (err ? reject(new Error(`the X server has no XTEST extension: ${err.message}`)) : resolve(ext))),
    );
    const screen0 = display.screen[0];
    if (!screen0) throw new Error('the X server reports no screen');
    const rows = await keyboardMapping(X, display.min_keycode, display.max_keycode);
    const screen = opts.screen ?? { x: 0, y: 0, width: screen0.pixel_width, height: screen0.pixel_height };
    return new XTestInjector(X, xtest, screen0.root, display.min_keycode, display.max_keycode, rows, screen, onError);
  } catch (err) {
    X.terminate();
    throw err;
  }
}

function connect(name: string, timeoutMs: number, onError: (err: Error) => void): Promise<x11.XDisplay> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let client: x11.XClient | undefined;
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(err);
    };
    const timer = setTimeout(() => {
      fail(new Error(`no answer from X display ${name} within ${timeoutMs} ms`));
      try {
        client?.terminate();
      } catch {
        // The socket never got as far as having a stream to end.
      }
    }, timeoutMs);
    try {
      client = x11.createClient({ display: name, shm: false }, (err, display) => {
        if (err) return fail(new Error(`cannot connect to X display ${name}: ${err.message}`));
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        resolve(display);
      });
    } catch (err) {
      return fail(new Error(`cannot connect to X display ${name}: ${(err as Error).message}`));
    }
    // An 'error' with no listener would throw out of the socket handler and take the process down.
    client.on('error', (err: Error) => {
      if (settled) onError(err);
    });
  });
}

function keyboardMapping(X: x11.XClient, min: number, max: number): Promise<number[][]> {
  return new Promise((resolve, reject) => X.GetKeyboardMapping(min, max - min + 1, (err, rows) => (err ? reject(err) : resolve(rows))));
}

export class XTestInjector implements Injector {
  private closed = false;
  /** Keyboard code → X keycode this injector pressed and has not released. */
  private readonly heldKeys = new Map<string, number>();
  private readonly heldButtons = new Set<number>();
  private keymap = new Map<number, { keycode: number; level: 0 | 1 }>();
  /** Keycodes with no symbols, borrowed to type characters the layout lacks (as xdotool does). */
  private readonly scratch: number[] = [];
  /** keysym → borrowed keycode, oldest first. */
  private readonly borrowed = new Map<number, number>();
  /** Requests waiting behind a keymap change, in order (see `send`). */
  private readonly pending: (() => void | Promise<void>)[] = [];
  private paused: Promise<void> | null = null;

  constructor(
    private readonly X: x11.XClient,
    private readonly xtest: x11.XTest,
    private readonly root: number,
    private readonly minKeycode: number,
    private readonly maxKeycode: number,
    rows: number[][],
    readonly screen: ScreenRect,
    private readonly onError: (err: Error) => void,
  ) {
    rows.forEach((row, i) => {
      if (row.every((k) => k === 0)) this.scratch.push(this.minKeycode + i);
    });
    this.index(rows);
    X.on('end', () => {
      if (this.closed) return;
      this.closed = true;
      onError(new Error('the X server closed the connection'));
    });
    X.on('event', (ev: x11.XEvent) => {
      // The end user may switch layouts mid-session; keycodes must follow.
      if (ev.name === 'MappingNotify' && ev.request === 1 && !this.closed) this.reloadKeymap();
    });
  }

  move(x: number, y: number): void {
    this.open();
    const px = toPixel(x, this.screen.x, this.screen.width);
    const py = toPixel(y, this.screen.y, this.screen.height);
    this.send(() => this.xtest.FakeInput(this.xtest.MotionNotify, 0, 0, this.root, px, py));
  }

  button(button: PointerButton, down: boolean): void {
    this.open();
    const b = BUTTON[button];
    this.fake(down ? this.xtest.ButtonPress : this.xtest.ButtonRelease, b);
    if (down) this.heldButtons.add(b);
    else this.heldButtons.delete(b);
  }

  wheel(dx: number, dy: number): void {
    this.open();
    const notch = (b: number, n: number) => {
      for (let i = 0; i < Math.min(Math.abs(Math.trunc(n)), 100); i++) {
        this.fake(this.xtest.ButtonPress, b);
        this.fake(this.xtest.ButtonRelease, b);
      }
    };
    notch(dy > 0 ? WHEEL.down : WHEEL.up, dy);
    notch(dx > 0 ? WHEEL.right : WHEEL.left, dx);
  }

  key(code: string, key: string, down: boolean): boolean {
    this.open();
    if (!down) {
      const kc = this.heldKeys.get(code);
      if (kc === undefined) return false;
      this.heldKeys.delete(code);
      // Two codes can land on one keycode; the key stays down until both are up.
      if (![...this.heldKeys.values()].includes(kc)) this.fake(this.xtest.KeyRelease, kc);
      return true;
    }
    let kc = this.heldKeys.get(code);
    if (kc === undefined) {
      const ks = keysymForKey(code, key);
      if (ks === undefined) return false;
      // No Shift is added for a level-2 symbol: the analyst's own Shift is already down if they meant it.
      kc = this.keymap.get(ks)?.keycode ?? this.borrow(ks);
      if (kc === undefined) return false;
    }
    this.fake(this.xtest.KeyPress, kc);
    this.heldKeys.set(code, kc);
    return true;
  }

  text(s: string): void {
    this.open();
    const shift = this.keymap.get(XK.Shift_L)?.keycode;
    for (const ch of s) {
      const ks = keysymForChar(ch);
      if (ks === undefined) continue;
      const hit = this.keymap.get(ks);
      if (hit && (hit.level === 0 || shift !== undefined)) {
        const shifted = hit.level === 1 && shift !== undefined;
        if (shifted) this.fake(this.xtest.KeyPress, shift);
        this.tap(hit.keycode);
        if (shifted) this.fake(this.xtest.KeyRelease, shift);
        continue;
      }
      const kc = this.borrow(ks);
      if (kc !== undefined) this.tap(kc);
    }
  }

  releaseAll(): void {
    if (this.closed) return;
    for (const kc of new Set(this.heldKeys.values())) this.fake(this.xtest.KeyRelease, kc);
    this.heldKeys.clear();
    for (const b of this.heldButtons) this.fake(this.xtest.ButtonRelease, b);
    this.heldButtons.clear();
  }

  /** Resolves once the X server has processed every request sent so far (waiting ones included). */
  async sync(): Promise<void> {
    this.open();
    while (this.paused) await this.paused;
    return this.X.sync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Whatever waits behind a keymap change goes out now, so every release below comes after it.
    this.flushNow();
    this.releaseAll();
    for (const kc of this.borrowed.values()) this.X.ChangeKeyboardMapping(kc, 2, [0, 0]);
    this.borrowed.clear();
    this.closed = true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.X.terminate();
        resolve();
      }, 2000);
      this.X.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private open(): void {
    if (this.closed) throw new Error('the XTEST injector is closed');
  }

  private fake(type: number, detail: number): void {
    this.send(() => this.xtest.FakeInput(type, detail, 0, this.root, 0, 0));
  }

  /**
   * Sends one request now, or, while a keymap change settles, after it in order. The fast path is
   * the common one: pointer and key events go straight out with no added latency.
   */
  private send(op: () => void | Promise<void>): void {
    if (this.paused) {
      this.pending.push(op);
      return;
    }
    const wait = op();
    if (wait) this.pauseOn(wait);
  }

  private pauseOn(wait: Promise<void>): void {
    const p = wait
      .catch((err: unknown) => this.onError(err as Error))
      .then(() => {
        if (this.paused !== p) return;
        this.paused = null;
        while (this.pending.length && !this.paused && !this.closed) {
          const next = this.pending.shift()!();
          if (next) this.pauseOn(next);
        }
      });
    this.paused = p;
  }

  private flushNow(): void {
    this.paused = null;
    for (const op of this.pending.splice(0)) void op();
  }

  private tap(kc: number): void {
    this.fake(this.xtest.KeyPress, kc);
    this.fake(this.xtest.KeyRelease, kc);
  }

  /**
   * Maps a spare keycode to the keysym. A borrowed keycode is reused for the same symbol and is not
   * put back until close(): an X client may translate an earlier key press with the mapping it
   * reads later, so remapping the same keycode at once could type the wrong character.
   */
  private borrow(ks: number): number | undefined {
    const have = this.borrowed.get(ks);
    if (have !== undefined) {
      this.borrowed.delete(ks);
      this.borrowed.set(ks, have);
      return have;
    }
    const inUse = new Set([...this.borrowed.values(), ...this.heldKeys.values()]);
    let kc = this.scratch.find((k) => !inUse.has(k));
    if (kc === undefined) {
      // Take back the least recently used one that is not held down.
      for (const [oldKs, oldKc] of this.borrowed) {
        if ([...this.heldKeys.values()].includes(oldKc)) continue;
        this.borrowed.delete(oldKs);
        kc = oldKc;
        break;
      }
    }
    if (kc === undefined) return undefined;
    // An X client translates a key press with the keymap it holds when the press arrives and
    // refreshes it only on MappingNotify; a press sent right behind the change is often read
    // with the old (empty) mapping and types nothing. So input waits until the server has the
    // change and clients have had a moment to fetch it; only a symbol's first use pays this.
    this.send(() => {
      this.X.ChangeKeyboardMapping(kc, 2, [ks, ks]);
      return this.X.sync().then(() => new Promise<void>((resolve) => setTimeout(resolve, REMAP_SETTLE_MS)));
    });
    this.borrowed.set(ks, kc);
    return kc;
  }

  private index(rows: number[][]): void {
    const scratch = new Set(this.scratch);
    const map = new Map<number, { keycode: number; level: 0 | 1 }>();
    rows.forEach((row, i) => {
      const keycode = this.minKeycode + i;
      if (scratch.has(keycode)) return;
      for (const level of [0, 1] as const) {
        const ks = row[level];
        if (!ks) continue;
        const seen = map.get(ks);
        if (!seen || seen.level > level) map.set(ks, { keycode, level });
      }
    });
    this.keymap = map;
  }

  private reloadKeymap(): void {
    this.X.GetKeyboardMapping(this.minKeycode, this.maxKeycode - this.minKeycode + 1, (err, rows) => {
      if (err) return this.onError(err);
      if (this.closed) return;
      // A spare keycode someone else has since given symbols to is no longer ours to borrow.
      const mine = new Set(this.borrowed.values());
      for (let i = this.scratch.length - 1; i >= 0; i--) {
        const kc = this.scratch[i]!;
        if (!mine.has(kc) && rows[kc - this.minKeycode]?.some((k) => k !== 0)) this.scratch.splice(i, 1);
      }
      this.index(rows);
    });
  }
}

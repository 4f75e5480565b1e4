import { missingCase } from '../../common/missing-case.js';
import { toPixel, type Injector, type PointerButton, type ScreenRect } from '../injector.js';
import { planChar, planKey, wheelAmount, type CharAction } from './key-map.js';
import type { Libnut } from './libnut-module.js';
import type { TargetOs } from './target-os.js';

/**
 * Input through libnut, the same code on Windows, macOS and Linux: the platform shows only in the
 * conventions of key-map.ts and desktop-coordinates.ts, and in which binary was loaded. It runs
 * for real on Xvfb in CI (test/integration/libnut-injection.test.ts).
 *
 * Which platform uses it (main/injector-factory.ts): Windows and macOS. Linux X11 keeps the XTEST
 * adapter, which measured better there (README "Platforms"): it types characters the keymap lacks,
 * and a lost X server is an error instead of the exit libnut's Xlib connection brings.
 */
export interface LibnutInjectorOptions {
  os: TargetOs;
  lib: Libnut;
  /** The shared display in the input API's coordinates (desktop-coordinates.ts inputRect). */
  screen: ScreenRect;
}

/** What the adapter refused rather than guess: a user-visible count, not a silent loss. */
export interface LibnutRefusals {
  /** Key presses with no key on the target (an Insert key on a Mac, an unknown code). */
  keys: number;
  /** Characters the platform cannot type (outside ASCII on Windows; see key-map.ts). */
  chars: number;
}

export class LibnutInjector implements Injector {
  readonly screen: ScreenRect;
  readonly refused: LibnutRefusals = { keys: 0, chars: 0 };
  private readonly os: TargetOs;
  private readonly lib: Libnut;
  /** KeyboardEvent.code -> libnut name, for every key this injector holds down. */
  private readonly heldKeys = new Map<string, string>();
  private readonly heldButtons = new Set<PointerButton>();
  private closed = false;

  constructor(opts: LibnutInjectorOptions) {
    this.os = opts.os;
    this.lib = opts.lib;
    this.screen = { ...opts.screen };
    // libnut sleeps 10 ms after every mouse call and between keys by default: latency for nothing.
    this.lib.setMouseDelay(0);
    this.lib.setKeyboardDelay(0);
  }

  move(x: number, y: number): void {
    this.open();
    this.lib.moveMouse(toPixel(x, this.screen.x, this.screen.width), toPixel(y, this.screen.y, this.screen.height));
  }

  button(button: PointerButton, down: boolean): void {
    this.open();
    this.lib.mouseToggle(down ? 'down' : 'up', button);
    if (down) this.heldButtons.add(button);
    else this.heldButtons.delete(button);
  }

  wheel(dx: number, dy: number): void {
    this.open();
    const a = wheelAmount(dx, dy, this.os);
    if (a.x !== 0 || a.y !== 0) this.lib.scrollMouse(a.x, a.y);
  }

  key(code: string, key: string, down: boolean): boolean {
    this.open();
    if (!down) {
      const name = this.heldKeys.get(code);
      if (name === undefined) return false;
      this.heldKeys.delete(code);
      // Two codes can name one key (Numpad1 as End, and End); it stays down until both are up.
      if (![...this.heldKeys.values()].includes(name)) this.lib.keyToggle(name, 'up');
      return true;
    }
    const held = this.heldKeys.get(code);
    const plan = held === undefined ? planKey(code, key, this.os) : ({ via: 'key', name: held } as const);
    if (plan.via === 'none') {
      this.refused.keys++;
      return false;
    }
    try {
      this.lib.keyToggle(plan.name, 'down');
    } catch (err) {
      // libnut knows no such key on this platform: refused, nothing was pressed.
      if (/invalid key/i.test((err as Error).message)) {
        this.refused.keys++;
        return false;
      }
      throw err;
    }
    this.heldKeys.set(code, plan.name);
    return true;
  }

  text(s: string): void {
    this.open();
    // Runs of characters libnut types itself go in one call; taps go one by one, in order.
    let run = '';
    const flush = () => {
      if (run) this.lib.typeString(run);
      run = '';
    };
    for (const ch of s) {
      const a: CharAction = planChar(ch, this.os);
      switch (a.via) {
        case 'layout':
        case 'unicode':
          run += a.ch;
          break;
        case 'tap':
          flush();
          if (a.shift) this.lib.keyTap(a.name, ['shift']);
          else this.lib.keyTap(a.name);
          break;
        case 'none':
          this.refused.chars++;
          break;
        default:
          missingCase(a);
      }
    }
    flush();
  }

  releaseAll(): void {
    if (this.closed) return;
    for (const name of new Set(this.heldKeys.values())) this.lib.keyToggle(name, 'up');
    this.heldKeys.clear();
    for (const b of this.heldButtons) this.lib.mouseToggle('up', b);
    this.heldButtons.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.releaseAll();
    this.closed = true;
  }

  private open(): void {
    if (this.closed) throw new Error('the libnut injector is closed');
  }
}

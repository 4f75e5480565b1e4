/**
 * libnut's Windows and macOS binaries, and macOS's permission answers, which cannot run on Linux.
 * The fake records every call the adapter makes and refuses key names the way libnut does on
 * that platform (src/main.cc key_names and keycode.h of libnut-core 2.7: a name libnut does not
 * know, or one that is K_NOT_A_KEY on that platform, throws "Invalid key code specified.").
 * The adapter's Linux path runs on the real binary (test/integration/libnut-injection.test.ts).
 */
import type { DesktopPermissions } from '../../main/injector-permissions.js';
import type { Libnut } from '../../main/injectors/libnut-module.js';
import type { TargetOs } from '../../main/injectors/target-os.js';

const COMMON_NAMES = [
  'backspace', 'delete', 'return', 'tab', 'escape', 'up', 'down', 'right', 'left', 'home', 'end', 'pageup', 'pagedown',
  ...Array.from({ length: 24 }, (_, i) => `f${i + 1}`),
  'meta', 'right_meta', 'cmd', 'right_cmd', 'win', 'right_win', 'alt', 'right_alt', 'control', 'right_control', 'shift', 'right_shift',
  'space', 'printscreen', 'insert', 'menu', 'fn', 'pause', 'caps_lock', 'num_lock', 'scroll_lock',
  ...Array.from({ length: 10 }, (_, i) => `numpad_${i}`), 'numpad_decimal', 'enter', 'clear', 'add', 'subtract', 'multiply', 'divide',
];

/** Names that are K_NOT_A_KEY on each platform in libnut's keycode.h. */
const NOT_A_KEY: Readonly<Record<TargetOs, readonly string[]>> = {
  darwin: ['f21', 'f22', 'f23', 'f24', 'win', 'right_win', 'pause', 'num_lock', 'scroll_lock', 'insert', 'printscreen', 'menu'],
  win32: ['cmd', 'right_cmd', 'fn'],
  linux: ['cmd', 'right_cmd', 'fn', 'menu'],
};

export class FakeLibnut implements Libnut {
  readonly calls: string[] = [];
  mouse = { x: 0, y: 0 };

  constructor(
    private readonly os: TargetOs,
    private readonly size = { width: 1920, height: 1080 },
  ) {}

  setMouseDelay(ms: number): void {
    this.calls.push(`setMouseDelay ${ms}`);
  }
  setKeyboardDelay(ms: number): void {
    this.calls.push(`setKeyboardDelay ${ms}`);
  }
  moveMouse(x: number, y: number): void {
    this.mouse = { x, y };
    this.calls.push(`moveMouse ${x} ${y}`);
  }
  mouseToggle(down: 'down' | 'up', button: string): void {
    this.calls.push(`mouseToggle ${down} ${button}`);
  }
  scrollMouse(x: number, y: number): void {
    this.calls.push(`scrollMouse ${x} ${y}`);
  }
  keyToggle(key: string, down: 'down' | 'up', modifier?: string[]): void {
    this.check(key);
    this.calls.push(`keyToggle ${key} ${down}${modifier ? ` [${modifier.join(',')}]` : ''}`);
  }
  keyTap(key: string, modifier?: string[]): void {
    this.check(key);
    this.calls.push(`keyTap ${key}${modifier ? ` [${modifier.join(',')}]` : ''}`);
  }
  typeString(s: string): void {
    this.calls.push(`typeString ${s}`);
  }
  getScreenSize(): { width: number; height: number } {
    return { ...this.size };
  }
  getMousePos(): { x: number; y: number } {
    return { ...this.mouse };
  }

  /** The calls after the two delays the adapter sets when it starts. */
  input(): string[] {
    return this.calls.filter((c) => !c.startsWith('set'));
  }

  private check(key: string): void {
    const known = key.length === 1 ? key.charCodeAt(0) < 0x80 : COMMON_NAMES.includes(key);
    if (!known || NOT_A_KEY[this.os].includes(key)) throw new Error('Invalid key code specified.');
  }
}

/** macOS's answers, as Electron's systemPreferences gives them; counts the prompts asked for. */
export class FakeMacPermissions implements DesktopPermissions {
  prompts = 0;
  constructor(
    public trusted: boolean,
    public screen: ReturnType<DesktopPermissions['screenRecording']> = 'granted',
  ) {}
  accessibility(prompt: boolean): boolean {
    if (prompt) this.prompts++;
    return this.trusted;
  }
  screenRecording(): ReturnType<DesktopPermissions['screenRecording']> {
    return this.screen;
  }
}

/**
 * The analyst's keys and text, turned into what the libnut adapter does on the end user's desktop.
 * Pure: the same rules for Windows, macOS and Linux, with each platform's conventions spelled out
 * here and unit tested (test/unit/injector-key-map.test.ts). libnut's key names are its own
 * (`return`, `right_alt`, `numpad_5`...; src/main.cc in libnut-core).
 *
 * Decisions, for the analyst and the end user alike:
 * - Modifiers go through as pressed, never swapped. Control is Control and Meta is the target's
 *   Meta key: Cmd on a Mac, Windows on a PC. An analyst on a PC controlling a Mac copies with
 *   Win+C (the key where the Mac's Cmd is); their Ctrl+C reaches the Mac as Control+C (an
 *   interrupt in Terminal). A silent swap would turn a Terminal's Ctrl+C into Copy, make the same
 *   key do different things from one session to the next, and the panic chord the input gate
 *   refuses is checked on the keys as sent.
 * - AltRight is the target's AltGr (Windows) or right Option (macOS): pressed by position. The
 *   viewer sends a character typed without Ctrl, Alt or Meta as text (renderer/app/format.ts), so
 *   characters reach the end user as characters whatever the two layouts are; key presses carry
 *   shortcuts and keys that type nothing.
 * - Numpad keys are pressed as numpad keys, so the end user's NumLock decides, as with a physical
 *   keypad; a numpad key the analyst's browser reports as a named key (NumLock off: End, arrows)
 *   is pressed as that key.
 * - A key or character the target cannot produce is typed as text where the platform has a
 *   Unicode text event (macOS); otherwise it is refused and counted, never replaced by a guess.
 */
import { missingCase } from '../../common/missing-case.js';
import type { TargetOs } from './target-os.js';

export type KeyAction = { via: 'key'; name: string } | { via: 'none'; why: 'unmapped' | 'not_on_target' };

export type CharAction =
  /** A key tap by libnut name, with Shift added when the character needs it. */
  | { via: 'tap'; name: string; shift: boolean }
  /** libnut's typeString: the target layout picks the key and its Shift/AltGr (Windows VkKeyScan). */
  | { via: 'layout'; ch: string }
  /** A Unicode text event, whatever the layout (macOS CGEventKeyboardSetUnicodeString). */
  | { via: 'unicode'; ch: string }
  | { via: 'none'; why: 'not_typeable' };

const FKEYS = Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`F${i + 1}`, `f${i + 1}`]));

/** Physical keys that type nothing, by KeyboardEvent.code. */
const BY_CODE: Readonly<Record<string, string>> = {
  Backspace: 'backspace',
  Tab: 'tab',
  Enter: 'return',
  NumpadEnter: 'enter',
  Escape: 'escape',
  Space: 'space',
  Delete: 'delete',
  Insert: 'insert',
  Home: 'home',
  End: 'end',
  PageUp: 'pageup',
  PageDown: 'pagedown',
  ArrowUp: 'up',
  ArrowDown: 'down',
  ArrowLeft: 'left',
  ArrowRight: 'right',
  PrintScreen: 'printscreen',
  Pause: 'pause',
  ScrollLock: 'scroll_lock',
  NumLock: 'num_lock',
  CapsLock: 'caps_lock',
  ContextMenu: 'menu',
  ShiftLeft: 'shift',
  ShiftRight: 'right_shift',
  ControlLeft: 'control',
  ControlRight: 'right_control',
  AltLeft: 'alt',
  AltRight: 'right_alt',
  ...FKEYS,
};

/** Named `key` values: what a numpad key with NumLock off says, or a key with an unknown code. */
const BY_KEY_NAME: Readonly<Record<string, string>> = {
  Backspace: 'backspace',
  Tab: 'tab',
  Enter: 'return',
  Escape: 'escape',
  Delete: 'delete',
  Insert: 'insert',
  Home: 'home',
  End: 'end',
  PageUp: 'pageup',
  PageDown: 'pagedown',
  ArrowUp: 'up',
  ArrowDown: 'down',
  ArrowLeft: 'left',
  ArrowRight: 'right',
  Clear: 'clear',
  Shift: 'shift',
  Control: 'control',
  Alt: 'alt',
  AltGraph: 'right_alt',
  CapsLock: 'caps_lock',
  ...FKEYS,
};

const NUMPAD: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`Numpad${i}`, `numpad_${i}`])),
  NumpadDecimal: 'numpad_decimal',
  NumpadAdd: 'add',
  NumpadSubtract: 'subtract',
  NumpadMultiply: 'multiply',
  NumpadDivide: 'divide',
};

/** The US-layout character of each printable code: only for shortcuts with a non-ASCII key. */
const CODE_CHAR: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`Key${String.fromCharCode(65 + i)}`, String.fromCharCode(97 + i)])),
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`Digit${i}`, String(i)])),
  Minus: '-',
  Equal: '=',
  BracketLeft: '[',
  BracketRight: ']',
  Backslash: '\\',
  Semicolon: ';',
  Quote: "'",
  Backquote: '`',
  Comma: ',',
  Period: '.',
  Slash: '/',
  IntlBackslash: '\\',
};

/** US Shift level: which unshifted key gives each shifted ASCII character. */
const US_SHIFTED: Readonly<Record<string, string>> = {
  '~': '`',
  '!': '1',
  '@': '2',
  '#': '3',
  $: '4',
  '%': '5',
  '^': '6',
  '&': '7',
  '*': '8',
  '(': '9',
  ')': '0',
  _: '-',
  '+': '=',
  '{': '[',
  '}': ']',
  '|': '\\',
  ':': ';',
  '"': "'",
  '<': ',',
  '>': '.',
  '?': '/',
};

interface Conventions {
  meta: readonly [left: string, right: string];
  /** Codes with no key on this platform's keyboards (libnut has no name for them there). */
  absent: ReadonlySet<string>;
  /** Codes whose key sits elsewhere under another name. */
  renamed: Readonly<Record<string, string>>;
  /** How printable ASCII in text is typed. */
  asciiText: 'layout' | 'us-levels' | 'unicode';
  /** Whether any other character can be typed as a Unicode text event. */
  unicodeText: boolean;
}

export const CONVENTIONS: Readonly<Record<TargetOs, Conventions>> = {
  win32: {
    meta: ['win', 'right_win'],
    absent: new Set(),
    renamed: {},
    // VkKeyScan in libnut's typeString finds the key and its Shift/AltGr on the end user's layout.
    asciiText: 'layout',
    // libnut 2.7.5's typeString narrows each character to 8 bits on Windows (no KEYEVENTF_UNICODE).
    unicodeText: false,
  },
  darwin: {
    meta: ['cmd', 'right_cmd'],
    // Mac keyboards have none of these; libnut maps them to K_NOT_A_KEY on macOS.
    absent: new Set(['Insert', 'PrintScreen', 'Pause', 'ScrollLock', 'ContextMenu', 'F21', 'F22', 'F23', 'F24']),
    // The Mac keypad's Clear key sits where NumLock is.
    renamed: { NumLock: 'clear' },
    asciiText: 'unicode',
    unicodeText: true,
  },
  linux: {
    meta: ['meta', 'right_meta'],
    absent: new Set(),
    renamed: {},
    // libnut's Linux typeString presses the keysym's key without its Shift ("!" types "1",
    // measured); the adapter adds Shift itself at the US level. Linux uses the XTEST adapter.
    asciiText: 'us-levels',
    // libnut's Linux typeString narrows to 8 bits and cannot remap a spare keycode.
    unicodeText: false,
  },
};

function isAscii(ch: string): boolean {
  const cp = ch.codePointAt(0) ?? 0;
  return ch.length === 1 && cp >= 0x20 && cp < 0x7f;
}

/** One key press or release of the analyst's: KeyboardEvent.code and .key. */
export function planKey(code: string, key: string, os: TargetOs): KeyAction {
  const c = CONVENTIONS[os];
  if (c.absent.has(code)) return { via: 'none', why: 'not_on_target' };
  if (c.renamed[code]) return { via: 'key', name: c.renamed[code] };
  if (code === 'MetaLeft' || code === 'OSLeft') return { via: 'key', name: c.meta[0] };
  if (code === 'MetaRight' || code === 'OSRight') return { via: 'key', name: c.meta[1] };
  const byCode = BY_CODE[code];
  if (byCode) return { via: 'key', name: byCode };
  if (NUMPAD[code]) {
    const named = BY_KEY_NAME[key];
    return { via: 'key', name: named ?? NUMPAD[code] };
  }
  if ([...key].length === 1) {
    if (isAscii(key)) return { via: 'key', name: key.toLowerCase() };
    // A shortcut on a key whose character is not ASCII (Ctrl+ö): the key at that position.
    const atPosition = CODE_CHAR[code];
    return atPosition ? { via: 'key', name: atPosition } : { via: 'none', why: 'unmapped' };
  }
  if (key === 'Meta' || key === 'OS') return { via: 'key', name: c.meta[0] };
  const named = BY_KEY_NAME[key];
  if (named) return { via: 'key', name: named };
  // "Unidentified", "Dead": fall back to the physical key.
  const atPosition = CODE_CHAR[code];
  return atPosition ? { via: 'key', name: atPosition } : { via: 'none', why: 'unmapped' };
}

/** One character of a `text` message. */
export function planChar(ch: string, os: TargetOs): CharAction {
  if (ch === '\n' || ch === '\r') return { via: 'tap', name: 'return', shift: false };
  if (ch === '\t') return { via: 'tap', name: 'tab', shift: false };
  const cp = ch.codePointAt(0);
  if (cp === undefined || [...ch].length !== 1 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return { via: 'none', why: 'not_typeable' };
  const c = CONVENTIONS[os];
  if (isAscii(ch)) {
    switch (c.asciiText) {
      case 'unicode':
        return { via: 'unicode', ch };
      case 'layout':
        return { via: 'layout', ch };
      case 'us-levels':
        return usLevel(ch);
      default:
        return missingCase(c.asciiText);
    }
  }
  return c.unicodeText ? { via: 'unicode', ch } : { via: 'none', why: 'not_typeable' };
}

function usLevel(ch: string): CharAction {
  if (ch === ' ') return { via: 'tap', name: 'space', shift: false };
  if (ch >= 'A' && ch <= 'Z') return { via: 'tap', name: ch.toLowerCase(), shift: true };
  const base = US_SHIFTED[ch];
  return base ? { via: 'tap', name: base, shift: true } : { via: 'tap', name: ch, shift: false };
}

/**
 * Wheel notches (DOM convention: positive dy scrolls down, positive dx right) in libnut's
 * scrollMouse units and directions: positive y is up and positive x left on every platform;
 * a notch is one button press on X11, WHEEL_DELTA (120) on Windows, and pixels on macOS.
 */
export function wheelAmount(dx: number, dy: number, os: TargetOs): { x: number; y: number } {
  const notches = (n: number) => Math.max(-100, Math.min(100, Math.trunc(n)));
  const unit = os === 'win32' ? 120 : os === 'darwin' ? MAC_PIXELS_PER_NOTCH : 1;
  // `|| 0` keeps -0 out of the calls.
  return { x: -notches(dx) * unit || 0, y: -notches(dy) * unit || 0 };
}

/** About three lines of text per notch, as a Mac mouse wheel scrolls. */
export const MAC_PIXELS_PER_NOTCH = 40;

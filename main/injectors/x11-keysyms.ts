/**
 * KeyboardEvent.code / .key to X11 keysyms (values from X11/keysymdef.h).
 *
 * The analyst's `key` says which character their layout produced, `code` which physical key they
 * pressed. Keys that type nothing (Enter, arrows, modifiers, F-keys) are taken from `code`, so a
 * left and a right Shift stay distinct. Printable keys are taken from `key`, so the end user gets
 * the character the analyst saw, whatever the two layouts are; `code` is the fallback when `key`
 * says nothing useful ("Unidentified", "Dead").
 */

export const XK = {
  BackSpace: 0xff08,
  Tab: 0xff09,
  Return: 0xff0d,
  Pause: 0xff13,
  Scroll_Lock: 0xff14,
  Escape: 0xff1b,
  Home: 0xff50,
  Left: 0xff51,
  Up: 0xff52,
  Right: 0xff53,
  Down: 0xff54,
  Page_Up: 0xff55,
  Page_Down: 0xff56,
  End: 0xff57,
  Print: 0xff61,
  Insert: 0xff63,
  Menu: 0xff67,
  Num_Lock: 0xff7f,
  KP_Enter: 0xff8d,
  KP_Multiply: 0xffaa,
  KP_Add: 0xffab,
  KP_Subtract: 0xffad,
  KP_Decimal: 0xffae,
  KP_Divide: 0xffaf,
  KP_0: 0xffb0,
  F1: 0xffbe,
  Shift_L: 0xffe1,
  Shift_R: 0xffe2,
  Control_L: 0xffe3,
  Control_R: 0xffe4,
  Caps_Lock: 0xffe5,
  Alt_L: 0xffe9,
  Alt_R: 0xffea,
  Super_L: 0xffeb,
  Super_R: 0xffec,
  ISO_Level3_Shift: 0xfe03,
  Delete: 0xffff,
  space: 0x20,
} as const;

/** Physical keys that type nothing: the code decides. */
const BY_CODE: Readonly<Record<string, number>> = {
  Backspace: XK.BackSpace,
  Tab: XK.Tab,
  Enter: XK.Return,
  NumpadEnter: XK.KP_Enter,
  Escape: XK.Escape,
  Pause: XK.Pause,
  ScrollLock: XK.Scroll_Lock,
  PrintScreen: XK.Print,
  Insert: XK.Insert,
  Delete: XK.Delete,
  Home: XK.Home,
  End: XK.End,
  PageUp: XK.Page_Up,
  PageDown: XK.Page_Down,
  ArrowLeft: XK.Left,
  ArrowUp: XK.Up,
  ArrowRight: XK.Right,
  ArrowDown: XK.Down,
  ContextMenu: XK.Menu,
  NumLock: XK.Num_Lock,
  CapsLock: XK.Caps_Lock,
  ShiftLeft: XK.Shift_L,
  ShiftRight: XK.Shift_R,
  ControlLeft: XK.Control_L,
  ControlRight: XK.Control_R,
  AltLeft: XK.Alt_L,
  AltRight: XK.Alt_R,
  MetaLeft: XK.Super_L,
  MetaRight: XK.Super_R,
  ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`F${i + 1}`, XK.F1 + i])),
};

/** Named `key` values, for when the code is unknown or a numpad key has NumLock off. */
const BY_KEY_NAME: Readonly<Record<string, number>> = {
  ...BY_CODE,
  Shift: XK.Shift_L,
  Control: XK.Control_L,
  Alt: XK.Alt_L,
  AltGraph: XK.ISO_Level3_Shift,
  Meta: XK.Super_L,
};

/** US-layout characters for printable codes, used only when `key` is of no help. */
const CODE_CHAR: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`Key${String.fromCharCode(65 + i)}`, String.fromCharCode(97 + i)])),
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`Digit${i}`, String(i)])),
  Space: ' ',
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
};

const NUMPAD: Readonly<Record<string, number>> = {
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`Numpad${i}`, XK.KP_0 + i])),
  NumpadAdd: XK.KP_Add,
  NumpadSubtract: XK.KP_Subtract,
  NumpadMultiply: XK.KP_Multiply,
  NumpadDivide: XK.KP_Divide,
  NumpadDecimal: XK.KP_Decimal,
};

/** The keysym of one character: Latin-1 is its own code point, the rest of Unicode is offset. */
export function keysymForChar(ch: string): number | undefined {
  if (ch === '\n' || ch === '\r') return XK.Return;
  if (ch === '\t') return XK.Tab;
  const cp = ch.codePointAt(0);
  if (cp === undefined || [...ch].length !== 1) return undefined;
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return undefined;
  if (cp <= 0xff) return cp;
  return 0x01000000 + cp;
}

export function keysymForKey(code: string, key: string): number | undefined {
  const byCode = BY_CODE[code];
  if (byCode !== undefined) return byCode;
  if ([...key].length === 1) return keysymForChar(key);
  const byName = BY_KEY_NAME[key];
  if (byName !== undefined) return byName;
  const ch = CODE_CHAR[code];
  if (ch !== undefined) return keysymForChar(ch);
  return NUMPAD[code];
}

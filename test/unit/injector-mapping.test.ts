import { describe, expect, it } from 'vitest';
import { toPixel, type ScreenRect } from '../../main/injector.js';
import { inputRect, type DisplayInfo } from '../../main/injectors/desktop-coordinates.js';
import { CONVENTIONS, MAC_PIXELS_PER_NOTCH, planChar, planKey, wheelAmount } from '../../main/injectors/key-map.js';

const point = (r: ScreenRect, x: number, y: number) => ({ x: toPixel(x, r.x, r.width), y: toPixel(y, r.y, r.height) });

describe('the shared display in each platform’s input coordinates', () => {
  it('Windows at 150%: physical pixels, so the far corner is the last physical pixel', () => {
    const d: DisplayInfo = { bounds: { x: 0, y: 0, width: 1707, height: 960 }, scaleFactor: 1.5, physical: { x: 0, y: 0, width: 2560, height: 1440 } };
    const r = inputRect(d, 'win32');
    expect(r).toEqual({ x: 0, y: 0, width: 2560, height: 1440 });
    expect(point(r, 1, 1)).toEqual({ x: 2559, y: 1439 });
    expect(point(r, 0.5, 0.5)).toEqual({ x: 1280, y: 720 });
    // Without Electron's physical rectangle, DIP times the scale (rounded).
    expect(inputRect({ bounds: { x: 0, y: 0, width: 1280, height: 720 }, scaleFactor: 1.5 }, 'win32')).toEqual({ x: 0, y: 0, width: 1920, height: 1080 });
  });

  it('Windows, a 150% display right of a 100% primary: its physical origin, not DIP times the scale', () => {
    const d: DisplayInfo = { bounds: { x: 1920, y: 0, width: 1707, height: 960 }, scaleFactor: 1.5, physical: { x: 1920, y: 0, width: 2560, height: 1440 } };
    expect(point(inputRect(d, 'win32'), 0.5, 0)).toEqual({ x: 1920 + 1280, y: 0 });
    // What the naive product would have given: 640 physical pixels too far right.
    expect(Math.round(1920 * 1.5) + 1280).toBe(4160);
  });

  it('Windows, a display left of the primary: negative coordinates kept', () => {
    const d: DisplayInfo = { bounds: { x: -1920, y: 0, width: 1920, height: 1080 }, scaleFactor: 1, physical: { x: -1920, y: 0, width: 1920, height: 1080 } };
    expect(point(inputRect(d, 'win32'), 0, 0)).toEqual({ x: -1920, y: 0 });
    expect(point(inputRect(d, 'win32'), 1, 1)).toEqual({ x: -1, y: 1079 });
  });

  it('macOS Retina at 2x: points, unscaled; the frame has twice the pixels but the same points', () => {
    const d: DisplayInfo = { bounds: { x: 0, y: 0, width: 1440, height: 900 }, scaleFactor: 2 };
    const r = inputRect(d, 'darwin');
    expect(r).toEqual({ x: 0, y: 0, width: 1440, height: 900 });
    expect(point(r, 0.5, 0.5)).toEqual({ x: 720, y: 450 });
    expect(point(r, 1, 1)).toEqual({ x: 1439, y: 899 });
  });

  it('macOS, a display above and left of the main one', () => {
    const d: DisplayInfo = { bounds: { x: -1680, y: -1050, width: 1680, height: 1050 }, scaleFactor: 1 };
    expect(point(inputRect(d, 'darwin'), 0, 0)).toEqual({ x: -1680, y: -1050 });
    expect(point(inputRect(d, 'darwin'), 0.5, 0.5)).toEqual({ x: -840, y: -525 });
  });

  it('Linux X11: root pixels, DIP times the one global scale; nonsense scales count as 1', () => {
    expect(inputRect({ bounds: { x: 1440, y: 0, width: 1440, height: 900 }, scaleFactor: 2 }, 'linux')).toEqual({ x: 2880, y: 0, width: 2880, height: 1800 });
    expect(inputRect({ bounds: { x: 0, y: 0, width: 800, height: 600 }, scaleFactor: 0 }, 'linux')).toEqual({ x: 0, y: 0, width: 800, height: 600 });
    expect(inputRect({ bounds: { x: 0, y: 0, width: 800, height: 600 }, scaleFactor: Number.NaN }, 'win32')).toEqual({ x: 0, y: 0, width: 800, height: 600 });
  });
});

describe('keys, by platform convention', () => {
  it('modifiers go through as pressed: Meta is Windows on a PC and Cmd on a Mac, never swapped with Control', () => {
    expect(planKey('MetaLeft', 'Meta', 'win32')).toEqual({ via: 'key', name: 'win' });
    expect(planKey('MetaRight', 'Meta', 'win32')).toEqual({ via: 'key', name: 'right_win' });
    expect(planKey('MetaLeft', 'Meta', 'darwin')).toEqual({ via: 'key', name: 'cmd' });
    expect(planKey('MetaRight', 'Meta', 'darwin')).toEqual({ via: 'key', name: 'right_cmd' });
    expect(planKey('MetaLeft', 'Meta', 'linux')).toEqual({ via: 'key', name: 'meta' });
    // A Windows analyst's Ctrl+C on a Mac: Control and C, not Cmd+C.
    expect(planKey('ControlLeft', 'Control', 'darwin')).toEqual({ via: 'key', name: 'control' });
    expect(planKey('KeyC', 'c', 'darwin')).toEqual({ via: 'key', name: 'c' });
    expect(planKey('ControlRight', 'Control', 'win32')).toEqual({ via: 'key', name: 'right_control' });
    expect(planKey('ShiftRight', 'Shift', 'darwin')).toEqual({ via: 'key', name: 'right_shift' });
  });

  it('AltGr is the right Alt key of the target, by position (Windows AltGr, Mac right Option)', () => {
    expect(planKey('AltRight', 'AltGraph', 'win32')).toEqual({ via: 'key', name: 'right_alt' });
    expect(planKey('AltRight', 'Alt', 'darwin')).toEqual({ via: 'key', name: 'right_alt' });
    expect(planKey('AltLeft', 'Alt', 'win32')).toEqual({ via: 'key', name: 'alt' });
    expect(planKey('Unidentified', 'AltGraph', 'win32')).toEqual({ via: 'key', name: 'right_alt' });
  });

  it('numpad keys are numpad keys (the end user’s NumLock decides); with the analyst’s NumLock off, the named key', () => {
    for (const os of ['win32', 'darwin', 'linux'] as const) {
      expect(planKey('Numpad5', '5', os)).toEqual({ via: 'key', name: 'numpad_5' });
      expect(planKey('Numpad0', '0', os)).toEqual({ via: 'key', name: 'numpad_0' });
      expect(planKey('NumpadDecimal', '.', os)).toEqual({ via: 'key', name: 'numpad_decimal' });
      expect(planKey('NumpadAdd', '+', os)).toEqual({ via: 'key', name: 'add' });
      expect(planKey('NumpadDivide', '/', os)).toEqual({ via: 'key', name: 'divide' });
      expect(planKey('NumpadEnter', 'Enter', os)).toEqual({ via: 'key', name: 'enter' });
      expect(planKey('Numpad1', 'End', os)).toEqual({ via: 'key', name: 'end' });
      expect(planKey('Numpad8', 'ArrowUp', os)).toEqual({ via: 'key', name: 'up' });
    }
    // Enter on the main block is Return; the Mac has no NumLock, its keypad Clear sits there.
    expect(planKey('Enter', 'Enter', 'darwin')).toEqual({ via: 'key', name: 'return' });
    expect(planKey('NumLock', 'NumLock', 'win32')).toEqual({ via: 'key', name: 'num_lock' });
    expect(planKey('NumLock', 'Clear', 'darwin')).toEqual({ via: 'key', name: 'clear' });
  });

  it('keys a Mac keyboard does not have are refused, not guessed', () => {
    for (const code of ['Insert', 'PrintScreen', 'Pause', 'ScrollLock', 'ContextMenu', 'F21', 'F24']) {
      expect(planKey(code, code, 'darwin'), code).toEqual({ via: 'none', why: 'not_on_target' });
      expect(planKey(code, code, 'win32').via, code).toBe('key');
    }
    expect(planKey('F20', 'F20', 'darwin')).toEqual({ via: 'key', name: 'f20' });
  });

  it('printable keys by the character the analyst typed; a shortcut on a non-ASCII key by its position', () => {
    expect(planKey('KeyA', 'A', 'win32')).toEqual({ via: 'key', name: 'a' });
    // An AZERTY analyst's A key is code KeyQ: the character wins.
    expect(planKey('KeyQ', 'a', 'darwin')).toEqual({ via: 'key', name: 'a' });
    expect(planKey('Digit1', '!', 'win32')).toEqual({ via: 'key', name: '!' });
    expect(planKey('Space', ' ', 'darwin')).toEqual({ via: 'key', name: 'space' });
    // Ctrl+ö on a German keyboard (the US ; position).
    expect(planKey('Semicolon', 'ö', 'win32')).toEqual({ via: 'key', name: ';' });
    // A dead key says nothing useful: the physical key.
    expect(planKey('Quote', 'Dead', 'darwin')).toEqual({ via: 'key', name: "'" });
    expect(planKey('IntlRo', 'ß', 'win32')).toEqual({ via: 'none', why: 'unmapped' });
    expect(planKey('Foo', 'Bar', 'linux')).toEqual({ via: 'none', why: 'unmapped' });
    expect(planKey('F13', 'F13', 'win32')).toEqual({ via: 'key', name: 'f13' });
  });
});

describe('typed text, by platform convention', () => {
  it('macOS types every character as a Unicode event, whatever the layout', () => {
    for (const ch of ['a', 'A', '!', 'é', 'ß', '€', '😀', ' ']) expect(planChar(ch, 'darwin'), ch).toEqual({ via: 'unicode', ch });
    expect(CONVENTIONS.darwin.unicodeText).toBe(true);
  });

  it('Windows types ASCII through the end user’s layout (Shift and AltGr chosen there); other characters are refused', () => {
    for (const ch of ['a', 'Z', '!', '@', '~', ' ']) expect(planChar(ch, 'win32'), ch).toEqual({ via: 'layout', ch });
    for (const ch of ['é', 'ß', '€', '😀']) expect(planChar(ch, 'win32'), ch).toEqual({ via: 'none', why: 'not_typeable' });
  });

  it('Linux libnut taps ASCII with Shift at the US level', () => {
    expect(planChar('a', 'linux')).toEqual({ via: 'tap', name: 'a', shift: false });
    expect(planChar('K', 'linux')).toEqual({ via: 'tap', name: 'k', shift: true });
    expect(planChar('!', 'linux')).toEqual({ via: 'tap', name: '1', shift: true });
    expect(planChar('"', 'linux')).toEqual({ via: 'tap', name: "'", shift: true });
    expect(planChar('?', 'linux')).toEqual({ via: 'tap', name: '/', shift: true });
    expect(planChar('/', 'linux')).toEqual({ via: 'tap', name: '/', shift: false });
    expect(planChar(' ', 'linux')).toEqual({ via: 'tap', name: 'space', shift: false });
    expect(planChar('é', 'linux')).toEqual({ via: 'none', why: 'not_typeable' });
  });

  it('new lines and tabs are keys everywhere; control characters are never typed', () => {
    for (const os of ['win32', 'darwin', 'linux'] as const) {
      expect(planChar('\n', os)).toEqual({ via: 'tap', name: 'return', shift: false });
      expect(planChar('\r', os)).toEqual({ via: 'tap', name: 'return', shift: false });
      expect(planChar('\t', os)).toEqual({ via: 'tap', name: 'tab', shift: false });
      for (const ch of ['\u0000', '\u0007', '\u001b', '\u007f', '\u009b']) expect(planChar(ch, os), JSON.stringify(ch)).toEqual({ via: 'none', why: 'not_typeable' });
    }
  });
});

describe('the wheel', () => {
  it('turns DOM notches (positive = down, right) into libnut units (positive = up, left) per platform', () => {
    expect(wheelAmount(0, 1, 'linux')).toEqual({ x: 0, y: -1 });
    expect(wheelAmount(0, -3, 'linux')).toEqual({ x: 0, y: 3 });
    expect(wheelAmount(2, 0, 'linux')).toEqual({ x: -2, y: 0 });
    expect(wheelAmount(0, 1, 'win32')).toEqual({ x: 0, y: -120 });
    expect(wheelAmount(-1, 0, 'win32')).toEqual({ x: 120, y: 0 });
    expect(wheelAmount(0, 1, 'darwin')).toEqual({ x: 0, y: -MAC_PIXELS_PER_NOTCH });
    expect(wheelAmount(0, 1e6, 'linux')).toEqual({ x: 0, y: -100 });
    expect(wheelAmount(0.4, 0, 'win32')).toEqual({ x: 0, y: 0 });
  });
});

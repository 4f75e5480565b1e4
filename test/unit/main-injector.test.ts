import { describe, expect, it } from 'vitest';
import { InjectionUnavailableError, toPixel } from '../../main/injector.js';
import { mapPointer } from '../../renderer/app/format.js';
import { createInjector } from '../../main/injector-factory.js';
import { createXTestInjector } from '../../main/injectors/xtest.js';
import { keysymForChar, keysymForKey, XK } from '../../main/injectors/x11-keysyms.js';

describe('toPixel', () => {
  it('gives back the pixel the analyst pointed at, for every pixel of a 1280x720 screen', () => {
    for (const size of [1280, 720, 1366, 3840]) {
      for (let px = 0; px < size; px++) expect(toPixel(px / size, 0, size)).toBe(px);
    }
  });

  it('agrees with the analyst’s mapping: a pointer anywhere inside a pixel of the video, at any scale, lands on that pixel', () => {
    // Coordinates are fractions of the width (divide by width, not width - 1): pixel i spans [i/W, (i+1)/W).
    for (const [w, h, shownW] of [[1280, 720, 640], [1280, 720, 1280], [1366, 768, 1000], [3840, 2160, 1280]] as const) {
      const shownH = (shownW * h) / w;
      const box = { left: 10, top: 20, width: shownW, height: shownH };
      for (const px of [0, 1, 2, Math.floor(w / 3), w - 2, w - 1]) {
        for (const within of [0.001, 0.5, 0.999]) {
          const p = mapPointer(box.left + ((px + within) * shownW) / w, box.top + shownH / 2, box, w, h)!;
          expect(toPixel(p.x, 0, w)).toBe(px);
        }
      }
    }
  });

  it('keeps to the captured screen: edges, offsets, and nonsense clamped', () => {
    expect(toPixel(0, 0, 1280)).toBe(0);
    expect(toPixel(1, 0, 1280)).toBe(1279);
    expect(toPixel(0.5, 1920, 1280)).toBe(1920 + 640);
    expect(toPixel(1, 1920, 1280)).toBe(1920 + 1279);
    expect(toPixel(-3, 0, 1280)).toBe(0);
    expect(toPixel(7, 0, 1280)).toBe(1279);
    expect(toPixel(Number.NaN, 100, 1280)).toBe(100);
  });
});

describe('X keysyms for KeyboardEvent code and key', () => {
  it('maps letters, digits, space and punctuation by the character the analyst typed', () => {
    expect(keysymForKey('KeyA', 'a')).toBe(0x61);
    expect(keysymForKey('KeyA', 'A')).toBe(0x41);
    expect(keysymForKey('Digit7', '7')).toBe(0x37);
    expect(keysymForKey('Digit1', '!')).toBe(0x21);
    expect(keysymForKey('Space', ' ')).toBe(XK.space);
    for (const ch of '-=[]\\;\',./`') expect(keysymForKey('Unknown', ch)).toBe(ch.charCodeAt(0));
    // An AZERTY analyst's A key is code KeyQ: the character wins.
    expect(keysymForKey('KeyQ', 'a')).toBe(0x61);
    expect(keysymForKey('KeyZ', 'ö')).toBe(0xf6);
  });

  it('maps keys that type nothing by code, keeping left and right apart', () => {
    const cases: [string, string, number][] = [
      ['Enter', 'Enter', XK.Return],
      ['Backspace', 'Backspace', XK.BackSpace],
      ['Tab', 'Tab', XK.Tab],
      ['Escape', 'Escape', XK.Escape],
      ['ArrowLeft', 'ArrowLeft', XK.Left],
      ['ArrowUp', 'ArrowUp', XK.Up],
      ['ArrowRight', 'ArrowRight', XK.Right],
      ['ArrowDown', 'ArrowDown', XK.Down],
      ['ShiftLeft', 'Shift', XK.Shift_L],
      ['ShiftRight', 'Shift', XK.Shift_R],
      ['ControlLeft', 'Control', XK.Control_L],
      ['ControlRight', 'Control', XK.Control_R],
      ['AltLeft', 'Alt', XK.Alt_L],
      ['MetaLeft', 'Meta', XK.Super_L],
      ['Delete', 'Delete', XK.Delete],
      ['Home', 'Home', XK.Home],
      ['End', 'End', XK.End],
      ['PageDown', 'PageDown', XK.Page_Down],
      ['F1', 'F1', XK.F1],
      ['F12', 'F12', XK.F1 + 11],
    ];
    for (const [code, key, ks] of cases) expect(keysymForKey(code, key), code).toBe(ks);
  });

  it('falls back sensibly and says when it cannot map', () => {
    expect(keysymForKey('Numpad1', 'End')).toBe(XK.End);
    expect(keysymForKey('Numpad1', '1')).toBe(0x31);
    expect(keysymForKey('Numpad1', 'Unidentified')).toBe(XK.KP_0 + 1);
    expect(keysymForKey('KeyA', 'Unidentified')).toBe(0x61);
    expect(keysymForKey('Foo', 'Control')).toBe(XK.Control_L);
    expect(keysymForKey('Quote', 'Dead')).toBe(0x27);
    expect(keysymForKey('Foo', 'Dead')).toBeUndefined();
    expect(keysymForKey('Foo', 'Bar')).toBeUndefined();
  });

  it('gives Unicode characters their keysyms and refuses control characters', () => {
    expect(keysymForChar('é')).toBe(0xe9);
    expect(keysymForChar('€')).toBe(0x010020ac);
    expect(keysymForChar('😀')).toBe(0x0101f600);
    expect(keysymForChar('\n')).toBe(XK.Return);
    expect(keysymForChar('\t')).toBe(XK.Tab);
    expect(keysymForChar('\u0007')).toBeUndefined();
    expect(keysymForChar('\u009b')).toBeUndefined();
    expect(keysymForChar('ab')).toBeUndefined();
  });
});

describe('createInjector', () => {
  it('refuses a Wayland session rather than inject into XWayland only', async () => {
    await expect(createInjector('linux', { env: { XDG_SESSION_TYPE: 'wayland', DISPLAY: ':0' } })).rejects.toThrow(/Wayland/);
  });

  it('fails with an error, not a crash, when there is no X display', async () => {
    await expect(createInjector('linux', { env: {} })).rejects.toThrow(/DISPLAY is not set/);
    await expect(createInjector('linux', { env: {} })).rejects.toBeInstanceOf(InjectionUnavailableError);
    await expect(createXTestInjector({ display: ':4242', connectTimeoutMs: 3000 })).rejects.toThrow(/cannot connect to X display :4242|no answer/);
    await expect(createXTestInjector({ display: 'not a display' })).rejects.toThrow(/cannot connect to X display not a display/);
  });
});

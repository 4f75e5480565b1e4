import { describe, expect, it } from 'vitest';
import { KeyTranslator, controlPromptTimedOut, durationText, mapPointer, mfaFreshness, mmss, parseJoinInput, spokenDuration, keyFields, ssoVerificationText } from '../../renderer/app/format.js';
import { decodeControl } from '../../common/control/protocol.js';

const key = (code: string, k: string, mods: Partial<{ ctrlKey: boolean; altKey: boolean; shiftKey: boolean; metaKey: boolean }> = {}) => ({ code, key: k, ctrlKey: false, altKey: false, shiftKey: false, metaKey: false, ...mods });

describe('the screens’ pure helpers', () => {
  it('countdowns and durations', () => {
    expect(mmss(754_000)).toBe('12:34');
    expect(mmss(59_001)).toBe('01:00');
    expect(mmss(-5)).toBe('00:00');
    expect(mmss(75 * 60_000)).toBe('75:00');
    expect(spokenDuration(61_000)).toBe('1 minute 1 second');
    expect(spokenDuration(0)).toBe('0 seconds');
    expect(durationText(1800)).toBe('30 minutes');
    expect(durationText(5400)).toBe('1 hour 30 minutes');
    expect(durationText(3600)).toBe('1 hour');
  });

  it('the control prompt’s timeout notice says the prompt time the policy set', () => {
    expect(controlPromptTimedOut(30)).toBe('The control request was denied because nobody answered within 30 seconds.');
    expect(controlPromptTimedOut(5)).toBe('The control request was denied because nobody answered within 5 seconds.');
    expect(controlPromptTimedOut(90)).toBe('The control request was denied because nobody answered within 1 minute 30 seconds.');
  });

  it('a join code as people type or paste it, or a chaperone://join link', () => {
    expect(parseJoinInput('7KQ2M-XW9PC')).toBe('7KQ2MXW9PC');
    expect(parseJoinInput(' 7kq2m xw9pc ')).toBe('7KQ2MXW9PC');
    expect(parseJoinInput('7KQ2M-XW9PO')).toBe('7KQ2MXW9P0');
    expect(parseJoinInput('chaperone://join/7KQ2M-XW9PC')).toBe('7KQ2MXW9PC');
    expect(parseJoinInput('CHAPERONE://JOIN/7kq2mxw9pc/')).toBe('7KQ2MXW9PC');
    expect(parseJoinInput('https://support.example/join/7KQ2M-XW9PC')).toBe('7KQ2MXW9PC');
    expect(parseJoinInput('chaperone://join/7KQ2M-XW9PC?steal=1')).toBeNull();
    expect(parseJoinInput('javascript:alert(1)')).toBeNull();
    expect(parseJoinInput('hello')).toBeNull();
    expect(parseJoinInput('')).toBeNull();
    expect(parseJoinInput('7'.repeat(500))).toBeNull();
  });

  it('MFA freshness in words', () => {
    const now = 1_700_000_000_000;
    expect(mfaFreshness(now / 1000 - 30, now)).toBe('passed MFA just now');
    expect(mfaFreshness(now / 1000 - 600, now)).toBe('passed MFA 10 minutes ago');
    expect(mfaFreshness(now / 1000 - 3 * 3600, now)).toBe('passed MFA 3 hours ago');
    expect(mfaFreshness(null, now)).toBe('no second factor on record');
  });

  it('pointer mapping over a letterboxed video: corners, centre and the bars', () => {
    // A 1280x720 screen shown in an 800x600 box: scaled to 800x450, bars of 75 px above and below.
    const box = { left: 100, top: 50, width: 800, height: 600 };
    expect(mapPointer(100, 125, box, 1280, 720)).toEqual({ x: 0, y: 0 });
    expect(mapPointer(900, 575, box, 1280, 720)).toEqual({ x: 1, y: 1 });
    expect(mapPointer(500, 350, box, 1280, 720)).toEqual({ x: 0.5, y: 0.5 });
    expect(mapPointer(500, 100, box, 1280, 720)).toBeNull();
    expect(mapPointer(500, 600, box, 1280, 720)).toBeNull();
    // Pillarboxed: a 4:3 screen in a wide box.
    const wide = { left: 0, top: 0, width: 1600, height: 600 };
    expect(mapPointer(400, 300, wide, 800, 600)).toEqual({ x: 0, y: 0.5 });
    expect(mapPointer(399, 300, wide, 800, 600)).toBeNull();
    expect(mapPointer(10, 10, box, 0, 0)).toBeNull();
    // Every mapped point is a valid control message.
    const p = mapPointer(333, 222, box, 1280, 720)!;
    expect(decodeControl(JSON.stringify({ t: 'move', seq: 1, ...p }), 'pointer').ok).toBe(true);
  });

  it('keys: characters travel as text (capitals without Shift), keys and shortcuts as presses with their modifiers', () => {
    const k = new KeyTranslator();
    expect(k.down(key('ShiftLeft', 'Shift', { shiftKey: true }))).toEqual([]);
    expect(k.down(key('KeyH', 'H', { shiftKey: true }))).toEqual([{ t: 'text', text: 'H' }]);
    expect(k.up(key('KeyH', 'H', { shiftKey: true }))).toEqual([]);
    expect(k.up(key('ShiftLeft', 'Shift'))).toEqual([]);
    expect(k.down(key('Space', ' '))).toEqual([{ t: 'text', text: ' ' }]);
    expect(k.down(key('Enter', 'Enter'))).toEqual([{ t: 'keydown', code: 'Enter', key: 'Enter' }]);
    expect(k.up(key('Enter', 'Enter'))).toEqual([{ t: 'keyup', code: 'Enter', key: 'Enter' }]);
    // Ctrl+C: Control down, C down, C up, Control up.
    expect(k.down(key('KeyC', 'c', { ctrlKey: true }))).toEqual([
      { t: 'keydown', code: 'ControlLeft', key: 'Control' },
      { t: 'keydown', code: 'KeyC', key: 'c' },
    ]);
    expect(k.up(key('KeyC', 'c', { ctrlKey: true }))).toEqual([
      { t: 'keyup', code: 'KeyC', key: 'c' },
      { t: 'keyup', code: 'ControlLeft', key: 'Control' },
    ]);
    // Shift+ArrowLeft selects; focus lost mid-press releases everything that was sent down.
    expect(k.down(key('ArrowLeft', 'ArrowLeft', { shiftKey: true }))).toHaveLength(2);
    expect(k.releaseAll()).toEqual([
      { t: 'keyup', code: 'ArrowLeft', key: 'ArrowLeft' },
      { t: 'keyup', code: 'ShiftLeft', key: 'Shift' },
    ]);
    expect(k.releaseAll()).toEqual([]);
    // A key up for something never sent down sends nothing.
    expect(k.up(key('KeyZ', 'z'))).toEqual([]);
    // Every message is one the end user's input gate accepts.
    for (const m of [...k.down(key('KeyA', 'a', { altKey: true })), ...k.down(key('KeyB', 'B'))]) {
      expect(decodeControl(JSON.stringify({ ...m, seq: 0 }), 'reliable').ok).toBe(true);
    }
  });

  it('odd key fields are not sent at all', () => {
    expect(keyFields('KeyA', 'a')).toEqual({ code: 'KeyA', key: 'a' });
    expect(keyFields('', 'a')).toBeNull();
    expect(keyFields('Key A', 'a')).toBeNull();
    expect(keyFields('KeyA', 'Dead')).toBeNull();
    expect(keyFields('KeyA', 'x'.repeat(40))).toBeNull();
  });
});

describe('the consent screen on a single sign-on analyst', () => {
  it('names the identity provider that vouched, when and how they authenticated there', () => {
    const now = Date.UTC(2026, 11, 2, 14, 0, 0);
    const text = ssoVerificationText({ issuer: 'https://login.acme.example/tenant', amr: ['pwd', 'hwk'], acr: 'phr', mfa_at: now / 1000 - 4 * 60 }, now);
    expect(text).toBe('verified by your organisation\'s identity provider (login.acme.example); authenticated there 4 minutes ago with password and security key; assurance level "phr"');
  });
  it('says plainly when the provider gave no time or method', () => {
    expect(ssoVerificationText({ issuer: 'https://idp.example', mfa_at: null }, Date.now())).toBe("verified by your organisation's identity provider (idp.example); when they last authenticated is not known");
  });
});

import { describe, expect, it } from 'vitest';
import { JOIN_CODE_ALPHABET, JOIN_CODE_LENGTH, codeFromBytes, formatJoinCode, normalizeJoinCode } from '../../common/join-code.js';

describe('join codes', () => {
  it('use 32 unambiguous symbols and at least 8 characters, shown in two groups', () => {
    expect(new Set(JOIN_CODE_ALPHABET).size).toBe(32);
    for (const ch of 'ILOU') expect(JOIN_CODE_ALPHABET).not.toContain(ch);
    expect(JOIN_CODE_LENGTH).toBeGreaterThanOrEqual(8);
    const code = codeFromBytes(new Uint8Array(16).fill(255));
    expect(formatJoinCode(code)).toMatch(/^.{5}-.{5}$/);
  });

  it('accept what people type: spaces, dashes, lower case, confusable letters', () => {
    const code = codeFromBytes(Uint8Array.from({ length: 16 }, (_, i) => i * 7));
    expect(normalizeJoinCode(formatJoinCode(code).toLowerCase())).toBe(code);
    expect(normalizeJoinCode(` ${code.slice(0, 5)} ${code.slice(5)} `)).toBe(code);
    expect(normalizeJoinCode('O0OOO-IL111')).toBe('00000-11111'.replace('-', ''));
  });

  it('reject anything else', () => {
    for (const bad of ['', 'ABCDE', 'ABCDE-FGHJK-M', "' OR 1=1 --", 'ÄBCDE-FGHJK', 'x'.repeat(100)]) expect(normalizeJoinCode(bad)).toBeNull();
  });

  it('are uniform over the alphabet (256 is a multiple of 32)', () => {
    const counts = new Map<string, number>();
    for (let b = 0; b < 256; b++) {
      const c = codeFromBytes(new Uint8Array(16).fill(b))[0]!;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    expect([...counts.values()].every((n) => n === 8)).toBe(true);
  });
});

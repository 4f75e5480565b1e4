import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { KeyRing } from '../../broker/keys.js';
import { createTokenService } from '../../broker/auth/tokens.js';

describe('access tokens presented again (signature already checked)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-tokens-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('still expire, still fail once their key is no longer published, and a changed byte is checked afresh', async () => {
    let now = 1_800_000_000_000;
    const { ring } = KeyRing.load(dir, 60_000);
    const tokens = createTokenService(ring, 'chaperone-broker', () => now);
    const { token } = await tokens.sign('access', { sub: 'a1' }, now + 300_000);
    expect((await tokens.verify('access', token)).sub).toBe('a1');
    expect((await tokens.verify('access', token)).sub).toBe('a1');

    const [h, p, sig] = token.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BA' : 'AA'}`;
    await expect(tokens.verify('access', flipped)).rejects.toThrow(/signature is invalid/);
    await expect(tokens.verify('session', token)).rejects.toThrow(/another type/);

    ring.rotate(now);
    now += 61_000;
    // The old key left the published set when its keep-time ran out: the cached check is not enough.
    await expect(tokens.verify('access', token)).rejects.toThrow(/unknown key/);

    const fresh = await tokens.sign('access', { sub: 'a1' }, now + 10_000);
    await tokens.verify('access', fresh.token);
    now += 10_000;
    await expect(tokens.verify('access', fresh.token)).rejects.toThrow(/expired/);
  });

  it('a token this process signed is not verified again, yet every other check still applies to it', async () => {
    let now = 1_800_000_000_000;
    const { ring } = KeyRing.load(fs.mkdtempSync(path.join(dir, 'seeded-')), 60_000);
    const tokens = createTokenService(ring, 'chaperone-broker', () => now);
    const verify = vi.spyOn(crypto, 'verify');
    try {
      const { token } = await tokens.sign('session', { sub: 's1' }, now + 60_000);
      expect((await tokens.verify('session', token)).sub).toBe('s1');
      expect(verify).not.toHaveBeenCalled();
      await expect(tokens.verify('access', token)).rejects.toThrow(/another type/);
      // One changed byte is not the token that was signed: its signature is checked, and fails.
      const [h, p, sig] = token.split('.') as [string, string, string];
      await expect(tokens.verify('session', `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BA' : 'AA'}`)).rejects.toThrow(/signature is invalid/);
      expect(verify).toHaveBeenCalledTimes(1);
      now += 60_000;
      await expect(tokens.verify('session', token)).rejects.toThrow(/expired/);
      const later = await tokens.sign('session', { sub: 's2' }, now + 600_000);
      ring.rotate(now);
      now += 61_000;
      await expect(tokens.verify('session', later.token)).rejects.toThrow(/unknown key/);
    } finally {
      verify.mockRestore();
    }
  });
});

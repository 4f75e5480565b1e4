import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplayCache, verifyHttpProof, verifyNonceProof } from '../../broker/auth/dpop.js';
import { DeviceKeyService } from '../../main/device-key.js';
import { DeviceKey } from '../../kit/device.js';

/**
 * One proof builder (main/proofs.ts) behind the app's device key and the test and benchmark
 * clients: the broker accepts the proofs of each, bound to the token and the clock they were made with.
 */
describe('device proofs, as the app, the tests and the benchmarks make them', () => {
  const dirs: string[] = [];
  afterEach(() => {
    DeviceKey.clockSkewS = 0;
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  async function appKey(now: () => number): Promise<DeviceKeyService> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-proofs-'));
    dirs.push(dir);
    return DeviceKeyService.create({ file: path.join(dir, 'device-key.json'), now });
  }

  it('the broker accepts each client’s DPoP and signaling proofs, for the key each holds', async () => {
    const url = 'http://127.0.0.1:7480/api/v1/sessions';
    const app = await appKey(Date.now);
    const test = new DeviceKey();
    // The benchmarks hand keys between processes as private JWKs; the key read back signs the same way.
    const bench = DeviceKey.fromPrivateJwk(new DeviceKey().privateJwk());
    const clients = [
      { jkt: app.jkt, http: (t: string) => app.dpop('GET', url, t), nonce: (n: string, t: string) => app.nonceProof(n, t) },
      { jkt: await test.jkt(), http: (t: string) => test.httpProof('GET', url, t), nonce: (n: string, t: string) => test.nonceProof(n, t) },
      { jkt: await bench.jkt(), http: (t: string) => bench.httpProof('GET', url, t), nonce: (n: string, t: string) => bench.nonceProof(n, t) },
    ];
    for (const c of clients) {
      const proof = await c.http('access-token');
      expect(await verifyHttpProof(proof, { method: 'GET', path: '/api/v1/sessions', accessToken: 'access-token' }, new ReplayCache(), Date.now())).toMatchObject({ jkt: c.jkt });
      await expect(verifyHttpProof(await c.http('another-token'), { method: 'GET', path: '/api/v1/sessions', accessToken: 'access-token' }, new ReplayCache(), Date.now())).rejects.toThrow(/access token/);
      expect(decodeProtectedHeader(proof)).toMatchObject({ alg: 'EdDSA', typ: 'dpop+jwt' });
      expect(decodeProtectedHeader(proof).jwk).not.toHaveProperty('d');
      expect(await verifyNonceProof(await c.nonce('nonce-1', 'session-token'), 'nonce-1', 'session-token', Date.now())).toMatchObject({ jkt: c.jkt });
    }
  });

  it('iat is the clock’s second: the app’s clock, the test clock’s skew, a deliberately stale test proof', async () => {
    const at = Date.UTC(2030, 0, 1, 12, 0, 30, 900);
    const app = await appKey(() => at);
    expect(decodeJwt(await app.dpop('POST', 'http://b/api/v1/join')).iat).toBe(Math.floor(at / 1000));
    expect(decodeJwt(await app.sign('chaperone-consent+jwt', { sid: 's' }))).toMatchObject({ iat: Math.floor(at / 1000), sid: 's' });

    const d = new DeviceKey();
    DeviceKey.clockSkewS = 3600;
    const skewed = await d.httpProof('GET', 'http://b/api/v1/sessions');
    expect(Math.abs(decodeJwt(skewed).iat! - (Date.now() / 1000 + 3600))).toBeLessThanOrEqual(2);
    // The broker on test time accepts it; one on machine time finds it from the future.
    await expect(verifyHttpProof(skewed, { method: 'GET', path: '/api/v1/sessions' }, new ReplayCache(), Date.now() + 3_600_000)).resolves.toBeTruthy();
    await expect(verifyHttpProof(skewed, { method: 'GET', path: '/api/v1/sessions' }, new ReplayCache(), Date.now())).rejects.toThrow(/stale or from the future/);
    DeviceKey.clockSkewS = 0;
    const stale = await d.httpProof('GET', 'http://b/api/v1/sessions', undefined, -300);
    await expect(verifyHttpProof(stale, { method: 'GET', path: '/api/v1/sessions' }, new ReplayCache(), Date.now())).rejects.toThrow(/stale/);
  });
});

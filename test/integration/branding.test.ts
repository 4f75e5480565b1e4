import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrandingViewSchema } from '../../common/branding.js';
import { loadConfig } from '../../broker/config.js';
import { ApiClient } from '../../kit/api.js';
import { createUser, startTestBroker, tempDir, type TestBroker } from '../../kit/broker.js';
import { redeem, requestSession } from '../../kit/lifecycle.js';
import { solidPng } from '../helpers/png.js';

const claimsOf = (jws: string) => JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('branding: the organisation named to end users, checked at start and signed into the offer', () => {
  let b: TestBroker;
  const logo = solidPng(48, 48, [30, 90, 160]);
  const dir = tempDir();
  const logoPath = path.join(dir, 'acme.png');

  beforeAll(async () => {
    fs.writeFileSync(logoPath, logo);
    b = await startTestBroker('sqlite', { file: { branding: { name: 'Acme IT Helpdesk', logo: logoPath, help_line: 'Call the helpdesk on 555-0100, weekdays 8 to 18.' } } } as never);
  });
  afterAll(async () => {
    await b?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes name, help line and the logo with its hash, to anyone', async () => {
    const anon = new ApiClient(b.url);
    const res = await anon.get('/api/v1/branding');
    expect(res.status).toBe(200);
    expect(BrandingViewSchema.parse(res.body)).toEqual({
      name: 'Acme IT Helpdesk',
      help_line: 'Call the helpdesk on 555-0100, weekdays 8 to 18.',
      logo_sha256: crypto.createHash('sha256').update(logo).digest('hex'),
    });
    const img = await fetch(`${b.url}/api/v1/branding/logo`);
    expect([img.status, img.headers.get('content-type'), img.headers.get('x-content-type-options')]).toEqual([200, 'image/png', 'nosniff']);
    expect(Buffer.from(await img.arrayBuffer()).equals(logo)).toBe(true);
  });

  it('signs the same branding into the offer the end user reads', async () => {
    const analyst = await createUser(b, 'alice', ['analyst']);
    const s = await requestSession(analyst, ['view']);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    const { res } = await redeem(b, c.body.code);
    expect(claimsOf(res.body.offer).branding).toEqual((await new ApiClient(b.url).get('/api/v1/branding')).body);
  });

  it('without branding: the policy organisation, no help line, no logo (404)', async () => {
    const plain = await startTestBroker('sqlite', { policy: { organisation: 'Globex' } } as never);
    try {
      expect((await new ApiClient(plain.url).get('/api/v1/branding')).body).toEqual({ name: 'Globex', help_line: null, logo_sha256: null });
      const img = await new ApiClient(plain.url).get('/api/v1/branding/logo');
      expect([img.status, img.body.error.code]).toEqual([404, 'no_logo']);
    } finally {
      await plain.destroy();
    }
  });

  it('refuses to start with a logo that is missing, too large, or not a PNG, JPEG or WebP (an SVG), and with unsafe text', () => {
    const at = tempDir();
    const start = (branding: Record<string, unknown>) => () => loadConfig({ dataDir: at, file: { branding } as never });
    fs.writeFileSync(path.join(at, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    fs.writeFileSync(path.join(at, 'big.png'), Buffer.concat([logo, Buffer.alloc(64 * 1024)]));
    fs.writeFileSync(path.join(at, 'ok.png'), logo);
    expect(start({ logo: 'nowhere.png' })).toThrow(/branding\.logo: cannot read .*nowhere\.png/);
    expect(start({ logo: 'logo.svg' })).toThrow(/not a PNG, JPEG or WebP image/);
    expect(start({ logo: 'big.png' })).toThrow(/a logo must be 1 byte to 64 KiB/);
    expect(start({ name: 'Acme\u202eIT' })).toThrow(/branding\.name .*bidi/);
    expect(start({ name: 'x'.repeat(61) })).toThrow(/branding\.name/);
    // Relative to the data dir.
    expect(loadConfig({ dataDir: at, file: { branding: { logo: 'ok.png' } } as never }).branding.logo?.type).toBe('image/png');
    fs.rmSync(at, { recursive: true, force: true });
  });
});

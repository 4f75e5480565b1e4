import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../../kit/broker.js';

/** A raw request, because fetch would not let a test set the Origin header as a page does. */
function raw(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const preflight = (origin: string) => ({ origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, dpop' });

describe('CORS for the desktop app page', () => {
  let b: TestBroker;
  beforeAll(async () => {
    b = await startTestBroker('sqlite');
  });
  afterAll(async () => b?.destroy());

  it("the app's own origin may call the API: the preflight allows the proof and token headers", async () => {
    const r = await raw(`${b.url}/api/v1/join`, 'OPTIONS', preflight('chaperone-app://ui'));
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe('chaperone-app://ui');
    expect(r.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(r.headers['access-control-allow-headers']).toContain('dpop');
    expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    const get = await raw(`${b.url}/api/v1/me`, 'GET', { origin: 'chaperone-app://ui' });
    expect(get.status).toBe(401);
    expect(get.headers['access-control-allow-origin']).toBe('chaperone-app://ui');
    expect(JSON.parse(get.body).error.code).toBeTruthy();
  });

  it('any other page origin gets no CORS headers, so a browser refuses to let it read or send', async () => {
    for (const origin of ['https://evil.example', 'null', 'chaperone-app://evil', 'chaperone-app://ui.evil.example', 'file://']) {
      const r = await raw(`${b.url}/api/v1/join`, 'OPTIONS', preflight(origin));
      expect(r.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(r.status, origin).toBe(404);
      const get = await raw(`${b.url}/api/v1/me`, 'GET', { origin });
      expect(get.headers['access-control-allow-origin'], origin).toBeUndefined();
    }
  });

  it('outside the API (health, metrics, keys) nothing is opened to pages', async () => {
    const r = await raw(`${b.url}/metrics`, 'GET', { origin: 'chaperone-app://ui' });
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });
});

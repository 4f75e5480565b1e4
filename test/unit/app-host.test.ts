import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowserHost, type BrowserHost } from '../../main/browser-host/server.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';

/**
 * The browser test host: loopback only, nothing without its per-launch secret, the bridge over a
 * WebSocket parsed like IPC, the broker relayed on the same origin, and the offer checked by main.
 */
describe('the browser host', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let host: BrowserHost;
  let other: BrowserHost;
  let dir: string;
  let cookie: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-host-'));
    const rendererDir = path.join(dir, 'renderer');
    fs.mkdirSync(path.join(rendererDir, 'assets'), { recursive: true });
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><html><head><script type="module" src="./assets/app.js"></script></head><body></body></html>');
    fs.writeFileSync(path.join(rendererDir, 'assets/app.js'), 'console.log(1)');
    fs.writeFileSync(path.join(rendererDir, 'host-preload.js'), '// preload');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'outside the renderer');
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    host = await startBrowserHost({ brokerUrl: b.url, rendererDir, dataDir: path.join(dir, 'eu') });
    other = await startBrowserHost({ brokerUrl: b.url, rendererDir, dataDir: path.join(dir, 'other') });
    const r = await get(host, `/?k=${host.secret}`);
    cookie = String(r.headers['set-cookie']).split(';')[0]!;
  });
  afterAll(async () => {
    await host?.close();
    await other?.close();
    await b?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function get(h: BrowserHost, p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const u = new URL(h.origin);
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: Number(u.port), path: p, method, headers: { host: u.host, ...headers } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  function ws(h: BrowserHost, p: string, headers: Record<string, string>): Promise<{ socket: WebSocket } | { refused: number }> {
    return new Promise((resolve) => {
      const s = new WebSocket(`${h.origin.replace('http', 'ws')}${p}`, { headers });
      s.once('open', () => resolve({ socket: s }));
      s.once('unexpected-response', (_req, res) => resolve({ refused: res.statusCode ?? 0 }));
      s.once('error', () => resolve({ refused: -1 }));
    });
  }

  it('listens on loopback only, and the launch URL trades the secret for an HttpOnly, SameSite=Strict cookie', async () => {
    expect(host.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(host.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(other.secret).not.toBe(host.secret);
    const r = await get(host, `/?k=${host.secret}`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/');
    expect(String(r.headers['set-cookie'])).toMatch(/^chaperone_host=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/$/);
  });

  it('refuses every page without the secret, with a wrong one, with another launch’s, or under another host name', async () => {
    const otherCookie = String((await get(other, `/?k=${other.secret}`)).headers['set-cookie']).split(';')[0]!;
    const refusals = [
      await get(host, '/'),
      await get(host, '/index.html'),
      await get(host, '/host-preload.js'),
      await get(host, `/?k=${crypto.randomBytes(32).toString('base64url')}`),
      await get(host, `/?k=${host.secret.slice(1)}`),
      await get(host, '/', { cookie: 'chaperone_host=' + 'A'.repeat(43) }),
      await get(host, '/', { cookie: otherCookie }),
      await get(host, '/.well-known/jwks.json'),
      await get(host, '/api/v1/join', {}, 'POST'),
      // DNS rebinding: the right cookie under another name for this address.
      await get(host, '/', { cookie, host: `localhost:${new URL(host.origin).port}` }),
      await get(host, '/', { cookie, host: 'evil.example' }),
    ];
    for (const r of refusals) {
      expect(r.status).toBe(403);
      expect(r.body).toBe('forbidden');
    }
  });

  it('with the secret: the app under a strict CSP, the preload stand-in first, nothing outside the renderer', async () => {
    const r = await get(host, '/', { cookie });
    expect(r.status).toBe(200);
    expect(r.headers['content-security-policy']).toContain("script-src 'self'");
    expect(r.headers['content-security-policy']).toContain("default-src 'none'");
    expect(r.body.indexOf('/host-preload.js')).toBeGreaterThan(0);
    expect(r.body.indexOf('/host-preload.js')).toBeLessThan(r.body.indexOf('./assets/app.js'));
    expect((await get(host, '/assets/app.js', { cookie })).status).toBe(200);
    expect((await get(host, '/%2e%2e/secret.txt', { cookie })).status).toBe(404);
    expect((await get(host, '/assets/%2e%2e%2f%2e%2e%2fsecret.txt', { cookie })).status).toBe(404);
    expect((await get(host, '/', { cookie }, 'POST')).status).toBe(405);
    // The broker is relayed on the same origin.
    const jwks = await get(host, '/.well-known/jwks.json', { cookie });
    expect(jwks.status).toBe(200);
    expect(JSON.parse(jwks.body).keys.length).toBeGreaterThan(0);
  });

  it('refuses a WebSocket without the secret or from another origin; the bridge socket parses every frame', async () => {
    const origin = host.origin;
    expect(await ws(host, '/__chaperone/bridge', { origin })).toEqual({ refused: 403 });
    expect(await ws(host, '/__chaperone/bridge', { cookie, origin: 'http://evil.example' })).toEqual({ refused: 403 });
    expect(await ws(host, '/__chaperone/bridge', { cookie })).toEqual({ refused: 403 });
    expect(await ws(host, '/api/v1/signaling', { origin })).toEqual({ refused: 403 });
    expect(await ws(host, '/elsewhere', { cookie, origin })).toEqual({ refused: 404 });

    const c = await ws(host, '/__chaperone/bridge', { cookie, origin });
    if (!('socket' in c)) throw new Error('bridge socket refused');
    const replies: unknown[] = [];
    c.socket.on('message', (d) => replies.push(JSON.parse(String(d))));
    c.socket.send(JSON.stringify({ id: 1, method: 'grants.list', args: [] }));
    c.socket.send(JSON.stringify({ id: 2, method: 'shell.exec', args: ['rm -rf /'] }));
    c.socket.send(JSON.stringify({ id: 3, method: 'policy.get', args: [] }));
    await expect.poll(() => replies.length).toBe(3);
    expect(replies).toContainEqual({ id: 1, ok: true, result: [] });
    expect(replies).toContainEqual({ id: 2, ok: false, error: { code: 'unknown_method', message: expect.stringContaining('shell.exec') } });
    // The page is told to send broker calls to this origin, which relays them.
    expect(replies).toContainEqual({ id: 3, ok: true, result: expect.objectContaining({ brokerUrl: host.origin, controlPromptSeconds: 30 }) });
    const closed = new Promise<number>((r) => c.socket.once('close', (code) => r(code)));
    c.socket.send('{"id":4,"method":"grants.list","args":[],"smuggled":true}');
    expect(await closed).toBe(1008);
  });

  it('when the last page goes away, its grants go with it (nothing can confirm they are still wanted)', async () => {
    const c = await ws(host, '/__chaperone/bridge', { cookie, origin: host.origin });
    if (!('socket' in c)) throw new Error('bridge socket refused');
    const sid = crypto.randomUUID();
    const replies = new Map<number, unknown>();
    c.socket.on('message', (d) => {
      const f = JSON.parse(String(d)) as { id: number; result: unknown };
      replies.set(f.id, f.result);
    });
    c.socket.send(JSON.stringify({ id: 1, method: 'session.open', args: [{ sessionId: sid, expiresAt: Date.now() + 60_000 }] }));
    await expect.poll(() => replies.has(1)).toBe(true);
    c.socket.send(JSON.stringify({ id: 2, method: 'grants.acquire', args: [{ sessionId: sid, kind: 'capture' }] }));
    await expect.poll(() => replies.get(2)).toMatchObject({ ok: true });
    expect(host.services.registry.grants().map((g) => g.kind)).toEqual(['capture']);
    c.socket.close();
    await expect.poll(() => host.services.registry.grants()).toEqual([]);
    expect(await host.services.handlers['grants.acquire']({ sessionId: sid, kind: 'capture' })).toMatchObject({ ok: false });
  });

  it('grants belong to the page that opened their session: it goes, they go at once, while another page (staff) stays connected', async () => {
    type Page = { call(method: string, args: unknown[]): Promise<unknown>; close(): Promise<void> };
    const page = async (): Promise<Page> => {
      const c = await ws(host, '/__chaperone/bridge', { cookie, origin: host.origin });
      if (!('socket' in c)) throw new Error('bridge socket refused');
      let id = 0;
      const waiting = new Map<number, (v: unknown) => void>();
      c.socket.on('message', (d) => {
        const f = JSON.parse(String(d)) as { id?: number; ok?: boolean; result?: unknown; error?: unknown };
        if (f.id !== undefined) waiting.get(f.id)?.(f.ok ? f.result : { error: f.error });
      });
      return {
        call: (method, args) => new Promise((resolve) => {
          waiting.set(++id, resolve);
          c.socket.send(JSON.stringify({ id, method, args }));
        }),
        close: () => new Promise<void>((r) => {
          c.socket.once('close', () => r());
          c.socket.close();
        }),
      };
    };
    const staff = await page();
    const endUser = await page();
    const first = crypto.randomUUID();
    await endUser.call('session.open', [{ sessionId: first, expiresAt: Date.now() + 60_000 }]);
    expect(await endUser.call('grants.acquire', [{ sessionId: first, kind: 'capture' }])).toMatchObject({ ok: true });
    // Another page cannot take a grant for a session it did not open.
    expect(await staff.call('grants.acquire', [{ sessionId: first, kind: 'control' }])).toMatchObject({ ok: false, reason: 'other_page' });
    // The end user's page is closed (or reloaded); the staff page stays.
    await endUser.close();
    await expect.poll(() => host.services.registry.grants()).toEqual([]);
    expect(host.services.activeSessions()).toEqual([]);
    // The next session, from a new page, is not refused for the old one's grants.
    const again = await page();
    const second = crypto.randomUUID();
    await again.call('session.open', [{ sessionId: second, expiresAt: Date.now() + 60_000 }]);
    expect(await again.call('grants.acquire', [{ sessionId: second, kind: 'capture' }])).toMatchObject({ ok: true });
    // A staff page going changes nothing for the end user's session.
    await staff.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(host.services.registry.grants().map((g) => g.kind)).toEqual(['capture']);
    await again.close();
    await expect.poll(() => host.services.registry.grants()).toEqual([]);
  });

  it('relays the analyst’s event stream event by event, not once it ends', async () => {
    const req = await analyst.api.post('/api/v1/sessions', { ticket: 'INC-78', reason: 'printer', capabilities: ['view'], duration_minutes: 10 });
    const url = `${host.origin}/api/v1/sessions/${req.body.id}/events`;
    const abort = new AbortController();
    const token = analyst.api.accessToken!;
    const res = await fetch(url, { headers: { cookie, accept: 'text/event-stream', authorization: `DPoP ${token}`, dpop: await analyst.api.device.httpProof('GET', url, token) }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = '';
    const until = async (what: string) => {
      while (!seen.includes(what)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${what}; got ${seen}`);
        seen += value;
      }
    };
    // The session is still open, so the stream is too: these arrive only if relayed as they come.
    await until('"state":"approved"');
    await analyst.api.post(`/api/v1/sessions/${req.body.id}/code`, {});
    await until('"state":"code_issued"');
    abort.abort();
    await analyst.api.post(`/api/v1/sessions/${req.body.id}/end`, {});
  });

  it('main checks the broker’s signature on the offer and that it was made for this device; the receipt answers only it', async () => {
    const req = await analyst.api.post('/api/v1/sessions', { ticket: 'INC-77', reason: 'printer', capabilities: ['view', 'chat'], duration_minutes: 10 });
    const code = (await analyst.api.post(`/api/v1/sessions/${req.body.id}/code`, {})).body.code_display as string;
    const h = host.services.handlers;
    const call = async (method: 'POST', p: string, body: unknown) => {
      const url = `${host.origin}${p}`;
      const res = await fetch(url, { method, headers: { cookie, 'content-type': 'application/json', dpop: await h['device.dpopProof']({ htm: method, htu: url }) }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };
    const redeemed = await call('POST', '/api/v1/join', { code });
    expect(redeemed.status).toBe(200);
    const offer = redeemed.body.offer as string;
    const view = await h['offer.verify']({ offer });
    expect(view).toMatchObject({ sid: req.body.id, ticket: 'INC-77', analyst: { name: 'Alice Tester', organisation: 'Acme IT' }, verification: { method: 'password+totp' }, consent_covers: ['view', 'chat'] });
    // Another device's main refuses it, and so does anyone for a forged one.
    await expect(other.services.handlers['offer.verify']({ offer })).rejects.toThrow(/another device/);
    const [hd, pl, sig] = offer.split('.');
    const forged = `${hd}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(pl!, 'base64url').toString()), duration_s: 86400 })).toString('base64url')}.${sig}`;
    await expect(h['offer.verify']({ offer: forged })).rejects.toThrow();
    await expect(h['consent.receipt']({ offer: forged, decision: 'accept' })).rejects.toThrow();

    const { sid, receipt } = await h['consent.receipt']({ offer, decision: 'accept' });
    const consent = await call('POST', '/api/v1/join/consent', { session_id: sid, receipt });
    expect(consent.status).toBe(200);
    expect(consent.body).toMatchObject({ accepted: true, token: expect.any(String) });
  });
});

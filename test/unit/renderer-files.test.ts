import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowserHost, type BrowserHost } from '../../main/browser-host/server.js';
import { resolveAppFile } from '../../main/electron/app-protocol.js';
import { rendererFileFor } from '../../main/renderer-files.js';

/**
 * Both hosts of the bundled renderer serve the same files: the browser test host refuses what
 * Electron's app protocol refuses (it used to serve any file under the directory, unknown types
 * as octet-stream), and both serve what the built app is made of.
 */
describe('the files of the renderer, as both hosts serve them', () => {
  let dir: string;
  let rendererDir: string;
  let host: BrowserHost;
  let cookie: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-renderer-files-'));
    rendererDir = path.join(dir, 'renderer');
    fs.mkdirSync(path.join(rendererDir, 'assets'), { recursive: true });
    fs.mkdirSync(path.join(rendererDir, '.hidden'), { recursive: true });
    const files: Record<string, string> = {
      'index.html': '<!doctype html><html><head><script type="module" src="./assets/app.js"></script></head><body></body></html>',
      'assets/app.js': 'console.log(1)',
      'assets/app.css': 'body{}',
      'host-preload.js': '// preload',
      // Present inside the renderer directory, so only the rule (not a missing file) can refuse them.
      'assets/app.js.map': '{"version":3}',
      'notes.txt': 'not part of the app',
      '.env.js': 'SECRET=1',
      '.hidden/app.js': 'hidden',
    };
    for (const [rel, text] of Object.entries(files)) fs.writeFileSync(path.join(rendererDir, rel), text);
    fs.writeFileSync(path.join(dir, 'secret.js'), 'outside the renderer');
    // Nothing at start reaches the broker (no crash to report), so none needs to run.
    host = await startBrowserHost({ brokerUrl: 'http://127.0.0.1:9', rendererDir, dataDir: path.join(dir, 'data') });
    const launch = await get(`/?k=${host.secret}`, {});
    cookie = String(launch.headers['set-cookie']).split(';')[0]!;
  });
  afterAll(async () => {
    await host?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function get(p: string, headers: Record<string, string> = { cookie }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const u = new URL(host.origin);
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: Number(u.port), path: p, method: 'GET', headers: { host: u.host, ...headers } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  const REFUSED = [
    '/.env.js', // a dotfile
    '/.hidden/app.js', // inside a dot directory
    '/assets/app.js.map', // a source map: not a type the app is made of
    '/notes.txt', // an unknown type
    '/assets%2fapp.js', // an encoded separator
    '/assets%5Capp.js', // an encoded backslash
    '/assets/..%2f..%2fsecret.js', // traversal through encoded separators
    '/%2e%2e%2fsecret.js',
    '/%00.js', // NUL
    '/assets/%E0%A4%A.js', // malformed percent-encoding
  ];

  it('Electron’s app protocol refuses each of these paths', () => {
    for (const p of REFUSED) {
      expect(resolveAppFile(rendererDir, 'GET', `chaperone-app://ui${p}`), p).toBeNull();
      expect(rendererFileFor(rendererDir, p), p).toBeNull();
    }
  });

  it('the browser host refuses the same paths (the files behind most of them exist: only the rule refuses them)', async () => {
    for (const p of REFUSED) {
      const r = await get(p);
      expect(r.status, p).toBe(404);
      expect(r.body, p).toBe('not found');
    }
  });

  it('both serve the files the built app is made of, with the same type and headers', async () => {
    for (const [p, type] of [
      ['/', 'text/html; charset=utf-8'],
      ['/index.html', 'text/html; charset=utf-8'],
      ['/assets/app.js', 'text/javascript; charset=utf-8'],
      ['/assets/app.css', 'text/css; charset=utf-8'],
      ['/host-preload.js', 'text/javascript; charset=utf-8'],
    ] as const) {
      expect(resolveAppFile(rendererDir, 'GET', `chaperone-app://ui${p}`)?.type, p).toBe(type);
      const r = await get(p);
      expect(r.status, p).toBe(200);
      expect(r.headers['content-type'], p).toBe(type);
      expect(r.headers['x-content-type-options'], p).toBe('nosniff');
      expect(r.headers['content-security-policy'], p).toContain("connect-src 'self';");
      expect(r.headers['content-security-policy'], p).toContain("worker-src 'none'");
    }
  });
});

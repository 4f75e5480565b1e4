import fs from 'node:fs';
import path from 'node:path';
import type { CustomScheme, Protocol } from 'electron';
import { APP_SCHEME, isAppOrigin } from './app-origin.js';
import { RENDERER_CONTENT_TYPES } from '../content-types.js';

/** Registered before `ready` (Electron requires it): a standard, secure origin of the app's own. */
export const APP_SCHEME_PRIVILEGES: CustomScheme = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true, bypassCSP: false, corsEnabled: false, allowServiceWorkers: false, stream: false },
};

const TYPES = RENDERER_CONTENT_TYPES;

/**
 * The file a request for the app's scheme maps to, or null: only GET, only our host, only files
 * inside the renderer directory with a known type (no traversal, no dotfiles, no source maps).
 */
export function resolveAppFile(rendererDir: string, method: string, url: string): { file: string; type: string } | null {
  if (method !== 'GET' || !isAppOrigin(url)) return null;
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(url).pathname);
  } catch {
    return null;
  }
  if (pathname.includes('\0') || pathname.split('/').some((seg) => seg.startsWith('.'))) return null;
  const root = path.resolve(rendererDir);
  const file = path.resolve(root, `.${pathname === '/' ? '/index.html' : pathname}`);
  if (!file.startsWith(root + path.sep)) return null;
  const type = TYPES[path.extname(file)];
  return type ? { file, type } : null;
}

/** Headers on everything the app scheme serves. */
export function appResponseHeaders(type: string, csp: string): Record<string, string> {
  return {
    'content-type': type,
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'cross-origin-opener-policy': 'same-origin',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  };
}

/** Serves the bundled renderer on the app scheme of one session's protocol object. */
export function serveAppProtocol(protocol: Pick<Protocol, 'handle'>, rendererDir: string, csp: string): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const hit = resolveAppFile(rendererDir, request.method, request.url);
    if (!hit) return new Response('not found', { status: 404, headers: { 'content-type': 'text/plain' } });
    try {
      const body = await fs.promises.readFile(hit.file);
      return new Response(body, { status: 200, headers: appResponseHeaders(hit.type, csp) });
    } catch {
      return new Response('not found', { status: 404, headers: { 'content-type': 'text/plain' } });
    }
  });
}

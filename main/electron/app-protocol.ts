import fs from 'node:fs';
import type { CustomScheme, Protocol } from 'electron';
import { rendererFileFor, rendererResponseHeaders, type RendererFile } from '../renderer-files.js';
import { APP_SCHEME, isAppOrigin } from './app-origin.js';

/** Registered before `ready` (Electron requires it): a standard, secure origin of the app's own. */
export const APP_SCHEME_PRIVILEGES: CustomScheme = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true, bypassCSP: false, corsEnabled: false, allowServiceWorkers: false, stream: false },
};

/**
 * The file a request for the app's scheme maps to, or null: only GET, only our host, and then only
 * what main/renderer-files.ts serves (files of the bundle with a known type, no traversal, no
 * dotfiles, no source maps).
 */
export function resolveAppFile(rendererDir: string, method: string, url: string): RendererFile | null {
  if (method !== 'GET' || !isAppOrigin(url)) return null;
  return rendererFileFor(rendererDir, new URL(url).pathname);
}

/** Headers on everything the app scheme serves. */
export const appResponseHeaders = rendererResponseHeaders;

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

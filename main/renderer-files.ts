import path from 'node:path';

/**
 * Which file of the bundled renderer (dist/renderer) a request path maps to, for both hosts that
 * serve it: Electron's app protocol and the browser test host. One decision, so neither host can
 * serve what the other refuses.
 */

/** Content types of the files the bundled renderer is made of; any other file is not served. */
export const RENDERER_CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

export interface RendererFile {
  file: string;
  type: string;
}

/**
 * The file for a URL's path (as the URL parser leaves it, percent-encoded), or null: only files
 * inside the renderer directory with a known type. Refused: dot segments and dotfiles (no
 * traversal, no .env), encoded separators and backslashes (a segment the checks saw as one name
 * must not become two), NUL, and unknown types (no source maps). `/` is the index page.
 */
export function rendererFileFor(rendererDir: string, pathname: string): RendererFile | null {
  if (/%(2f|5c)/i.test(pathname)) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\') || decoded.split('/').some((seg) => seg.startsWith('.'))) return null;
  const root = path.resolve(rendererDir);
  const file = path.resolve(root, `.${decoded === '/' ? '/index.html' : decoded}`);
  if (!file.startsWith(root + path.sep)) return null;
  const type = RENDERER_CONTENT_TYPES[path.extname(file)];
  return type ? { file, type } : null;
}

/** Headers on every file of the renderer, whichever host serves it. */
export function rendererResponseHeaders(type: string, csp: string): Record<string, string> {
  return {
    'content-type': type,
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'cross-origin-opener-policy': 'same-origin',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
  };
}

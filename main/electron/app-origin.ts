/**
 * Where the app's own page lives: a privileged custom scheme, `chaperone-app://ui/index.html`,
 * served from the bundled renderer by main (app-protocol.ts).
 *
 * Why not file://: every local file shares the file: origin, so "is this our page" could not be
 * answered by origin, 'self' in the CSP would cover the whole disk, and a page that navigated to
 * another local file would still look like ours. A standard, secure custom scheme gives the app
 * an origin of its own that nothing else can load into, main decides every byte it serves and
 * puts the CSP header on it, and the IPC sender check compares one exact URL.
 */
export const APP_SCHEME = 'chaperone-app';
export const APP_HOST = 'ui';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_PAGE_PATH = '/index.html';
export const APP_PAGE = `${APP_ORIGIN}${APP_PAGE_PATH}`;

function parse(url: unknown): URL | null {
  if (typeof url !== 'string' || url.length > 4096) return null;
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/** True when `url` is served by the app's scheme (any file of the bundled renderer). */
export function isAppOrigin(url: unknown): boolean {
  const u = parse(url);
  // WHATWG URL gives custom schemes an opaque origin ("null"), so compare the parts.
  return !!u && u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.username === '' && u.password === '' && u.port === '';
}

/** True when `url` is the app's page itself; only the fragment (the app's route) may differ. */
export function isAppPage(url: unknown): boolean {
  const u = parse(url);
  return !!u && isAppOrigin(url) && u.pathname === APP_PAGE_PATH && u.search === '';
}

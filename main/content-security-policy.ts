/**
 * The page's Content-Security-Policy, for both hosts of the bundled renderer: Electron's app
 * protocol (main/electron/app-protocol.ts) and the browser test host (main/browser-host/server.ts).
 * Sent as a header, not a meta tag: it applies before the first byte of HTML is parsed and the page
 * cannot remove it.
 *
 * Scripts and styles only from the app itself (no inline, no eval); network only to the app and to
 * the pinned broker (HTTP for the API, WebSocket for signaling); media from capture streams and the
 * broker (a recording's playback URL); no
 * plugins, frames, workers, forms or base changes. Without `brokerUrl` the page reaches the broker
 * on its own origin (the browser host relays it), so 'self' is all it may connect to.
 */
// electronegativity-ok CSP_GLOBAL_CHECK: the CSP is built here and sent as a header on every response of the app scheme (main/electron/app-protocol.ts), which a static scan cannot see; test/unit/electron-window.test.ts checks it
export function contentSecurityPolicy(brokerUrl?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    `media-src 'self' blob: mediastream:${brokerUrl === undefined ? '' : ` ${new URL(brokerUrl).origin}`}`,
    `connect-src ${brokerUrl === undefined ? "'self'" : `'self' ${brokerSources(brokerUrl)}`}`,
    "font-src 'self'",
    "object-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The pinned broker's API and signaling origins. */
function brokerSources(brokerUrl: string): string {
  const broker = new URL(brokerUrl);
  if (broker.protocol !== 'https:' && broker.protocol !== 'http:') throw new Error(`the broker must be http(s), not ${broker.protocol}`);
  const ws = `${broker.protocol === 'https:' ? 'wss:' : 'ws:'}//${broker.host}`;
  return `${broker.origin} ${ws}`;
}

/**
 * The page's Content-Security-Policy, sent as a header by the app protocol (a header, not a meta
 * tag: it applies before the first byte of HTML is parsed and the page cannot remove it).
 *
 * Scripts and styles only from the app itself (no inline, no eval); network only to the app and to
 * the pinned broker (HTTP for the API, WebSocket for signaling); media from capture streams; no
 * plugins, frames, forms or base changes.
 */
// electronegativity-ok CSP_GLOBAL_CHECK: the CSP is built here and sent as a header on every response of the app scheme (app-protocol.ts), which a static scan cannot see; test/unit/electron-window.test.ts checks it
export function contentSecurityPolicy(brokerUrl: string): string {
  const broker = new URL(brokerUrl);
  if (broker.protocol !== 'https:' && broker.protocol !== 'http:') throw new Error(`the broker must be http(s), not ${broker.protocol}`);
  const ws = `${broker.protocol === 'https:' ? 'wss:' : 'ws:'}//${broker.host}`;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    `connect-src 'self' ${broker.origin} ${ws}`,
    "font-src 'self'",
    "object-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

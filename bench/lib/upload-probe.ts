/**
 * What the sharer sends, counted inside the end user's page before the app's code runs: the bytes
 * its peer connections have sent (the transport's bytesSent: media, data channels, DTLS, ICE), the
 * request bodies it fetches with (recording chunks, transcripts) and what it sends on WebSockets
 * (signaling). The monitor bench reads it over windows with and without watchers: watching must
 * cost the end user's uplink nothing, since the broker relays the chunks it already uploads.
 */
import type { Page } from 'playwright-core';

export const UPLOAD_PROBE = `(() => {
  const probe = { pcs: [], fetchBytes: 0, wsBytes: 0 };
  window.__upload = probe;
  const PC = window.RTCPeerConnection;
  if (PC) {
    const Wrapped = function (...a) { const pc = new PC(...a); probe.pcs.push(pc); return pc; };
    Wrapped.prototype = PC.prototype;
    Object.setPrototypeOf(Wrapped, PC);
    window.RTCPeerConnection = Wrapped;
  }
  const size = (b) => (b == null ? 0 : typeof b === 'string' ? new TextEncoder().encode(b).length : b.byteLength !== undefined ? b.byteLength : b.size || 0);
  const f = window.fetch;
  window.fetch = (input, init) => { probe.fetchBytes += size(init && init.body); return f(input, init); };
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) { probe.wsBytes += size(d); return send.call(this, d); };
})();`;

/** Bytes the page has sent so far, all ways together. */
export async function uploadedBytes(page: Page): Promise<number> {
  return (await page.evaluate(`(async () => {
    const p = window.__upload;
    let rtc = 0;
    for (const pc of p.pcs) {
      if (pc.connectionState === 'closed') continue;
      const stats = await pc.getStats();
      stats.forEach((s) => { if (s.type === 'transport') rtc += s.bytesSent || 0; });
    }
    return rtc + p.fetchBytes + p.wsBytes;
  })()`)) as number;
}

/**
 * Where the app's first frame spends its time (app.json `first_frame_timeline`): an init script
 * in both pages, installed before the app's code, stamps (page clock, moved onto Node's with
 * clockOffset) each step the path takes: screen capture asked and given, each HTTP request and its
 * answer, the signaling socket opened, server-sent events, the offer and answer set, ICE and DTLS
 * connected, the remote track, and the first frame. Nothing in the app is changed for it.
 */
import type { Page } from 'playwright-core';

export const TIMELINE = `(() => {
  const T = (window.__tl = []);
  const at = () => performance.timeOrigin + performance.now();
  const mark = (what) => { if (T.length < 400) T.push({ what, at: at() }); };
  window.__tlMark = mark;
  const md = navigator.mediaDevices;
  if (md && md.getDisplayMedia) {
    const g = md.getDisplayMedia.bind(md);
    md.getDisplayMedia = async (...a) => { mark('getDisplayMedia asked'); const r = await g(...a); mark('getDisplayMedia given'); return r; };
  }
  const f = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const u = new URL(typeof input === 'string' ? input : input.url, location.href).pathname.replace(/[0-9a-f-]{16,}|[A-Za-z0-9_-]{20,}/g, ':id');
    const m = (init && init.method) || 'GET';
    mark('http ' + m + ' ' + u + ' sent');
    let r;
    try { r = await f(input, init); } catch (e) { mark('http ' + m + ' ' + u + ' failed: ' + String(e && e.message || e).slice(0, 80)); throw e; }
    mark('http ' + m + ' ' + u + ' answered ' + r.status);
    if (u.endsWith('/events') && r.body) {
      const rd = r.clone().body.getReader();
      const dec = new TextDecoder();
      (async () => { for (;;) { const { value, done } = await rd.read(); if (done) return mark('event stream closed'); mark('event stream: ' + dec.decode(value).replace(/\\s+/g, ' ').slice(0, 60)); } })().catch(() => mark('event stream broke'));
    }
    return r;
  };
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      mark('signaling socket created');
      this.addEventListener('open', () => mark('signaling socket open'));
      let n = 0;
      this.addEventListener('message', (e) => { if (n++ < 40) { let t = ''; try { const j = JSON.parse(e.data); t = j.type || (j.id !== undefined ? 'bridge answer ' + j.id : 'bridge event ' + (j.event || '')); } catch {} mark('frame in ' + t); } });
    }
    send(d) { let t = ''; try { const j = JSON.parse(d); t = j.type ? j.type + (j.type === 'signal' ? ' ' + j.payload.kind : '') : 'bridge ' + j.method; } catch { t = 'binary'; } mark('frame out ' + t); return super.send(d); }
  };
  const MR = window.MediaRecorder;
  if (MR) window.MediaRecorder = class extends MR { constructor(...a) { super(...a); mark('recorder created'); this.addEventListener('start', () => mark('recorder started')); } };
  const ES = window.EventSource;
  if (ES) window.EventSource = class extends ES {
    constructor(...a) { super(...a); mark('event source created'); this.addEventListener('open', () => mark('event source open')); this.addEventListener('message', () => mark('event source message')); }
  };
  const P = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends P {
    constructor(...a) {
      super(...a);
      mark('peer connection created');
      this.addEventListener('iceconnectionstatechange', () => mark('ice ' + this.iceConnectionState));
      this.addEventListener('connectionstatechange', () => mark('connection ' + this.connectionState));
      this.addEventListener('track', () => mark('remote track'));
    }
    async createOffer(...a) { mark('createOffer'); const r = await super.createOffer(...a); mark('offer created'); return r; }
    async setLocalDescription(d) { const r = await super.setLocalDescription(d); mark('local description set ' + (d ? d.type : '')); return r; }
    async setRemoteDescription(d) { mark('remote description ' + d.type + ' received'); const r = await super.setRemoteDescription(d); mark('remote description set ' + d.type); return r; }
  };
})();`;

export interface Step {
  what: string;
  /** ms after the Accept click (Node's clock). */
  ms: number;
  side: 'end user' | 'analyst';
}

/** Clears both pages' marks (before the click). */
export async function resetTimeline(pages: Page[]): Promise<void> {
  for (const p of pages) await p.evaluate("window.__tl && window.__tl.splice(0, window.__tl.length, ...window.__tl.filter((m) => m.what.includes('event')))");
}

/** Both pages' marks since the reset, on Node's clock relative to t0, in order. */
export async function readTimeline(o: { endUser: Page; euOffsetMs: number; analyst: Page; anOffsetMs: number; t0: number; firstFrameAt: number }): Promise<Step[]> {
  const read = async (p: Page, off: number, side: Step['side']) =>
    ((await p.evaluate('window.__tl || []')) as { what: string; at: number }[]).map((m) => ({ what: m.what, ms: Math.round((m.at - off - o.t0) * 10) / 10, side }));
  const steps = [...(await read(o.endUser, o.euOffsetMs, 'end user')), ...(await read(o.analyst, o.anOffsetMs, 'analyst')), { what: 'first frame shown', ms: Math.round((o.firstFrameAt - o.t0) * 10) / 10, side: 'analyst' as const }];
  return steps.filter((s) => s.ms >= -50 || s.what.includes('event')).sort((a, b) => a.ms - b.ms);
}

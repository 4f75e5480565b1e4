import type { SocketFactory, SocketLike } from '../../renderer/session/ports.js';

/**
 * What sits between a session engine and the real broker in tests of a hostile or different
 * world: a socket factory that lets a test rewrite, drop or add signaling frames on one client's
 * connection, in either direction. Used for a client of another stack that leaves fields out
 * (candidates without sdpMid), and for a relay that tampers with what it carries (a middleman).
 * Everything else is the real socket to the real broker.
 */
export type Rewrite = (frame: Record<string, unknown>) => Record<string, unknown> | null;

export interface Tampering {
  factory: SocketFactory;
  /** Pushes a frame to the client as if the broker had sent it. */
  inject(frame: Record<string, unknown>): void;
  /** The network goes: the connection drops and new ones fail until `unblock`. */
  block(): void;
  unblock(): void;
}

export function tamperingSocket(inner: SocketFactory, o: { outgoing?: Rewrite; incoming?: Rewrite }): Tampering {
  let current: SocketLike | null = null;
  let deliver: ((ev: { data: unknown }) => void) | null = null;
  let blocked = false;
  const factory: SocketFactory = (url) => {
    if (blocked) return unreachable();
    const ws = inner(url);
    current = ws;
    const wrapped: SocketLike = {
      get readyState() {
        return ws.readyState;
      },
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
      send(data: string) {
        const f = o.outgoing ? o.outgoing(JSON.parse(data) as Record<string, unknown>) : (JSON.parse(data) as Record<string, unknown>);
        if (f) ws.send(JSON.stringify(f));
      },
      close(code?: number, reason?: string) {
        ws.close(code, reason);
      },
    };
    ws.onopen = (ev) => wrapped.onopen?.(ev);
    ws.onclose = (ev) => wrapped.onclose?.(ev);
    ws.onerror = (ev) => wrapped.onerror?.(ev);
    deliver = (ev) => wrapped.onmessage?.(ev);
    ws.onmessage = (ev) => {
      const f = o.incoming ? o.incoming(JSON.parse(String(ev.data)) as Record<string, unknown>) : (JSON.parse(String(ev.data)) as Record<string, unknown>);
      if (f) deliver?.({ data: JSON.stringify(f) });
    };
    return wrapped;
  };
  return {
    factory,
    inject(frame) {
      if (current && deliver) deliver({ data: JSON.stringify(frame) });
    },
    block() {
      blocked = true;
      current?.close(4999, 'network gone');
      current = null;
    },
    unblock() {
      blocked = false;
    },
  };
}

/** A connection attempt that fails, as one does with no network. */
function unreachable(): SocketLike {
  const s: SocketLike = { readyState: 3, onopen: null, onmessage: null, onclose: null, onerror: null, send: () => undefined, close: () => undefined };
  setTimeout(() => s.onclose?.({ code: 1006, reason: '' }), 10);
  return s;
}

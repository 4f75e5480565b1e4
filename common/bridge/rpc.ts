import { z } from 'zod';
import { BridgeError, type BridgeMethod } from './api.js';

/**
 * The bridge carried over one WebSocket, for the browser test host (Chromium without Electron).
 * Same methods, same schemas; this file only frames calls, results and events.
 */

/** Where the browser test host serves the bridge socket, on the page's own origin. */
export const BRIDGE_PATH = '/__chaperone/bridge';

export const MAX_RPC_FRAME_BYTES = 64 * 1024;
/** The JSON part of a binary call frame (everything but the bytes). */
export const MAX_RPC_HEADER_BYTES = 1024;
/** A call that carries bytes (`files.write`): its bytes up to 64 KiB as they are, after its JSON header. */
export const MAX_RPC_BINARY_FRAME_BYTES = 4 + MAX_RPC_HEADER_BYTES + 64 * 1024;
/** Calls in flight per connection; more is a bug or an attack, and is refused. */
export const MAX_RPC_IN_FLIGHT = 256;

export const RpcCallSchema = z
  .object({
    id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    method: z.string().min(1).max(64),
    args: z.array(z.unknown()).max(4),
  })
  .strict();
export type RpcCall = z.infer<typeof RpcCallSchema>;

export type RpcServerFrame =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: string; message: string } }
  | { event: string; payload: unknown };

const RpcServerFrameSchema = z.union([
  z.object({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }).strict(),
  z.object({ id: z.number().int(), ok: z.literal(false), error: z.object({ code: z.string().max(64), message: z.string().max(1000) }).strict() }).strict(),
  z.object({ event: z.string().max(64), payload: z.unknown() }).strict(),
]);

/** Parses one frame from the page; null when it is not a well-formed call. */
export function parseRpcCall(data: unknown): RpcCall | null {
  if (typeof data !== 'string' || data.length > MAX_RPC_FRAME_BYTES) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  const r = RpcCallSchema.safeParse(raw);
  return r.success ? r.data : null;
}

/**
 * A call whose one argument carries `data` as bytes goes in a binary frame: a 4-byte big-endian
 * length, that many bytes of the call as JSON without `data`, then the bytes themselves. Bytes as
 * base64 inside JSON cost a third more on the wire and an encode, a regex and a decode per piece,
 * which is what held file transfer to about 2 MB/s. Null when the call carries no bytes.
 */
export function encodeBinaryCall(id: number, method: string, args: unknown[], into?: Uint8Array): Uint8Array | null {
  const first = args[0];
  if (args.length !== 1 || typeof first !== 'object' || first === null || !((first as { data?: unknown }).data instanceof Uint8Array)) return null;
  const { data, ...rest } = first as { data: Uint8Array } & Record<string, unknown>;
  const header = new TextEncoder().encode(JSON.stringify({ id, method, args: [rest] }));
  const length = 4 + header.length + data.length;
  const frame = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
  new DataView(frame.buffer, frame.byteOffset, frame.byteLength).setUint32(0, header.length);
  frame.set(header, 4);
  frame.set(data, 4 + header.length);
  return frame;
}

/** Parses one binary frame from the page (encodeBinaryCall); null when it is not a well-formed call. */
export function parseRpcBinaryCall(frame: Uint8Array): RpcCall | null {
  if (frame.length < 4 || frame.length > MAX_RPC_BINARY_FRAME_BYTES) return null;
  const n = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
  if (n > MAX_RPC_HEADER_BYTES || 4 + n > frame.length) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(frame.subarray(4, 4 + n)));
  } catch {
    return null;
  }
  const r = RpcCallSchema.safeParse(raw);
  if (!r.success || r.data.args.length !== 1) return null;
  const first = r.data.args[0];
  // The header cannot bring a `data` of its own: the bytes are the frame's, nothing else.
  if (typeof first !== 'object' || first === null || Array.isArray(first) || Object.hasOwn(first, 'data')) return null;
  return { ...r.data, args: [{ ...first, data: frame.subarray(4 + n) }] };
}

/** What the client needs from a socket; the browser's WebSocket fits it. */
export interface RpcSocket {
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  addEventListener(type: 'open' | 'close' | 'message' | 'error', fn: (ev: { data?: unknown }) => void): void;
}

/**
 * The page's end of the bridge socket: numbered calls, answered in any order; events fan out to
 * the subscriber. Calls made before the socket opens wait for it; once it closes every pending
 * and later call fails (the host went away: the app must not pretend grants still work).
 */
export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly queue: (string | Uint8Array)[] = [];
  private closed = false;
  private listener: ((event: string, payload: unknown) => void) | null = null;
  private readonly scratch = new Uint8Array(MAX_RPC_BINARY_FRAME_BYTES);

  constructor(private readonly socket: RpcSocket) {
    socket.addEventListener('open', () => {
      for (const f of this.queue.splice(0)) socket.send(f);
    });
    socket.addEventListener('message', (ev) => this.onMessage(ev.data));
    socket.addEventListener('close', () => this.fail());
    socket.addEventListener('error', () => this.fail());
  }

  invoke(method: BridgeMethod, args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new BridgeError('closed', 'the connection to the main process is closed'));
    if (this.pending.size >= MAX_RPC_IN_FLIGHT) return Promise.reject(new BridgeError('refused', 'too many calls in flight'));
    const id = this.nextId++;
    const open = this.socket.readyState === 1;
    // WebSocket.send copies what it is given before it returns, so an open socket's binary frames
    // are built in one buffer kept for the purpose: a new one per 64 KiB piece of a file was dead
    // memory the page's garbage collector let pile up to tens of MiB (bench/README.md, transfer).
    const frame = encodeBinaryCall(id, method, args, open ? this.scratch : undefined) ?? JSON.stringify({ id, method, args });
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (open) this.socket.send(frame);
      else this.queue.push(frame);
    });
  }

  subscribe(fn: (event: string, payload: unknown) => void): () => void {
    this.listener = fn;
    return () => {
      if (this.listener === fn) this.listener = null;
    };
  }

  private onMessage(data: unknown): void {
    if (typeof data !== 'string' || data.length > MAX_RPC_FRAME_BYTES) return;
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      return;
    }
    const r = RpcServerFrameSchema.safeParse(raw);
    if (!r.success) return;
    const f = r.data;
    if ('event' in f) {
      this.listener?.(f.event, f.payload);
      return;
    }
    const p = this.pending.get(f.id);
    if (!p) return;
    this.pending.delete(f.id);
    if (f.ok) p.resolve(f.result);
    else p.reject(new BridgeError(toCode(f.error.code), f.error.message));
  }

  private fail(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    for (const p of this.pending.values()) p.reject(new BridgeError('closed', 'the connection to the main process closed'));
    this.pending.clear();
  }
}

function toCode(c: string): BridgeError['code'] {
  const known: BridgeError['code'][] = ['unknown_method', 'invalid_args', 'invalid_result', 'failed', 'closed', 'refused'];
  return (known as string[]).includes(c) ? (c as BridgeError['code']) : 'failed';
}

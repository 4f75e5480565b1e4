/**
 * A deliberately small STUN/TURN client (RFC 5389 / RFC 5766) over UDP, enough to ask a real
 * coturn for an allocation with long-term credentials and to see exactly which error it answers.
 * Browsers' WebRTC stacks hide the error code behind "ICE failed"; the tests need the 401 itself.
 *
 * Everything read off the wire is length-checked before use: a short or lying datagram becomes an
 * Error, never an out-of-range read.
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';

const MAGIC_COOKIE = 0x2112a442;
const HEADER_LEN = 20;

export const StunMethod = { Binding: 0x001, Allocate: 0x003, Refresh: 0x004 } as const;
export const StunClass = { Request: 0b00, Indication: 0b01, Success: 0b10, Error: 0b11 } as const;

export const Attr = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  LIFETIME: 0x000d,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
} as const;

// RFC 5389 §15.3 and §15.7/§15.8 limits; anything longer is a malformed or hostile message.
const MAX_USERNAME_BYTES = 513;
const MAX_REALM_NONCE_CHARS = 127;
const UDP_PROTOCOL = 17;

export interface TransportAddress { address: string; port: number }
export interface StunAttribute { type: number; value: Buffer }
export interface StunMessage { method: number; cls: number; transactionId: Buffer; attributes: StunAttribute[]; raw: Buffer }

export type AllocateResult =
  | { ok: true; relayed: TransportAddress; mapped: TransportAddress | null; lifetimeSeconds: number | null }
  | { ok: false; errorCode: number; reason: string };

export type RefreshResult = { ok: true; lifetimeSeconds: number | null } | { ok: false; errorCode: number; reason: string };

export class StunTimeoutError extends Error {
  constructor(what: string, host: string, port: number, ms: number) {
    super(`no STUN response to ${what} from ${host}:${port} within ${ms} ms (is the server running and listening on UDP?)`);
    this.name = 'StunTimeoutError';
  }
}

// --- encoding -------------------------------------------------------------------------------------

function messageType(method: number, cls: number): number {
  // The class bits are interleaved into the method bits (RFC 5389 §6, figure 3).
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | ((cls & 0b10) << 7) | ((cls & 0b01) << 4);
}

function splitType(t: number): { method: number; cls: number } {
  const method = ((t >> 2) & 0xf80) | ((t >> 1) & 0x070) | (t & 0x00f);
  const cls = ((t >> 7) & 0b10) | ((t >> 4) & 0b01);
  return { method, cls };
}

function encodeAttribute(type: number, value: Buffer): Buffer {
  const padded = (value.length + 3) & ~3;
  const b = Buffer.alloc(4 + padded);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function header(type: number, bodyLength: number, transactionId: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_LEN);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(bodyLength, 2);
  h.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(h, 8);
  return h;
}

/** Long-term credential key (RFC 5389 §15.4). Passwords here are ASCII base64, so SASLprep is the identity. */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return crypto.createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest();
}

/**
 * Builds a request. With `key`, appends MESSAGE-INTEGRITY computed over the message with the
 * header length already counting the integrity attribute, as §15.4 requires.
 */
export function encodeMessage(method: number, cls: number, transactionId: Buffer, attrs: StunAttribute[], key?: Buffer): Buffer {
  if (transactionId.length !== 12) throw new Error('transaction id must be 12 bytes');
  const body = Buffer.concat(attrs.map((a) => encodeAttribute(a.type, a.value)));
  const type = messageType(method, cls);
  if (!key) return Buffer.concat([header(type, body.length, transactionId), body]);
  const miLength = 4 + 20;
  const signed = Buffer.concat([header(type, body.length + miLength, transactionId), body]);
  const mac = crypto.createHmac('sha1', key).update(signed).digest();
  return Buffer.concat([signed, encodeAttribute(Attr.MESSAGE_INTEGRITY, mac)]);
}

// --- decoding -------------------------------------------------------------------------------------

export function decodeMessage(buf: Buffer): StunMessage {
  if (buf.length < HEADER_LEN) throw new Error(`STUN message too short: ${buf.length} bytes`);
  const type = buf.readUInt16BE(0);
  if ((type & 0xc000) !== 0) throw new Error('not a STUN message: top two bits set');
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0) throw new Error(`STUN length ${length} is not a multiple of 4`);
  if (HEADER_LEN + length !== buf.length) throw new Error(`STUN length ${length} disagrees with datagram size ${buf.length}`);
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) throw new Error('STUN magic cookie missing');
  const transactionId = Buffer.from(buf.subarray(8, 20));
  const attributes: StunAttribute[] = [];
  let off = HEADER_LEN;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new Error(`truncated attribute header at offset ${off}`);
    const t = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    const valueEnd = off + 4 + len;
    if (valueEnd > buf.length) throw new Error(`attribute 0x${t.toString(16)} length ${len} runs past the message end`);
    attributes.push({ type: t, value: Buffer.from(buf.subarray(off + 4, valueEnd)) });
    off += 4 + ((len + 3) & ~3);
  }
  const { method, cls } = splitType(type);
  return { method, cls, transactionId, attributes, raw: buf };
}

function attr(m: StunMessage, type: number): Buffer | undefined {
  return m.attributes.find((a) => a.type === type)?.value;
}

function decodeAddress(v: Buffer, xor: boolean, transactionId: Buffer): TransportAddress {
  if (v.length < 4) throw new Error(`address attribute too short: ${v.length} bytes`);
  const family = v.readUInt8(1);
  let port = v.readUInt16BE(2);
  if (xor) port ^= MAGIC_COOKIE >>> 16;
  if (family === 0x01) {
    if (v.length !== 8) throw new Error(`IPv4 address attribute has length ${v.length}, want 8`);
    let a = v.readUInt32BE(4);
    if (xor) a = (a ^ MAGIC_COOKIE) >>> 0;
    return { address: [a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff].join('.'), port };
  }
  if (family === 0x02) {
    if (v.length !== 20) throw new Error(`IPv6 address attribute has length ${v.length}, want 20`);
    const raw = Buffer.from(v.subarray(4, 20));
    if (xor) {
      const mask = Buffer.alloc(16);
      mask.writeUInt32BE(MAGIC_COOKIE, 0);
      transactionId.copy(mask, 4);
      for (let i = 0; i < 16; i++) raw[i] = raw[i]! ^ mask[i]!;
    }
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
    return { address: groups.join(':'), port };
  }
  throw new Error(`unknown address family 0x${family.toString(16)}`);
}

function decodeErrorCode(m: StunMessage): { errorCode: number; reason: string } {
  const v = attr(m, Attr.ERROR_CODE);
  if (!v) throw new Error('error response without ERROR-CODE');
  if (v.length < 4) throw new Error(`ERROR-CODE too short: ${v.length} bytes`);
  const cls = v.readUInt8(2) & 0x07;
  const num = v.readUInt8(3);
  if (cls < 3 || cls > 6 || num > 99) throw new Error(`ERROR-CODE out of range: class ${cls}, number ${num}`);
  return { errorCode: cls * 100 + num, reason: v.subarray(4).toString('utf8') };
}

function decodeShortText(m: StunMessage, type: number, name: string): string | null {
  const v = attr(m, type);
  if (!v) return null;
  const s = v.toString('utf8');
  if (s.length > MAX_REALM_NONCE_CHARS) throw new Error(`${name} longer than ${MAX_REALM_NONCE_CHARS} characters`);
  return s;
}

function decodeLifetime(m: StunMessage): number | null {
  const v = attr(m, Attr.LIFETIME);
  if (!v) return null;
  if (v.length !== 4) throw new Error(`LIFETIME has length ${v.length}, want 4`);
  return v.readUInt32BE(0);
}

/**
 * Checks a response's MESSAGE-INTEGRITY with the key we used, so a success cannot come from
 * something that does not know the credential. Returns false when the attribute is absent.
 */
function verifyIntegrity(m: StunMessage, key: Buffer): boolean {
  let off = HEADER_LEN;
  while (off + 4 <= m.raw.length) {
    const t = m.raw.readUInt16BE(off);
    const len = m.raw.readUInt16BE(off + 2);
    if (t === Attr.MESSAGE_INTEGRITY) {
      if (len !== 20 || off + 24 > m.raw.length) throw new Error('MESSAGE-INTEGRITY has the wrong length');
      const signed = Buffer.from(m.raw.subarray(0, off));
      signed.writeUInt16BE(off + 24 - HEADER_LEN, 2);
      const want = crypto.createHmac('sha1', key).update(signed).digest();
      return crypto.timingSafeEqual(want, m.raw.subarray(off + 4, off + 24));
    }
    off += 4 + ((len + 3) & ~3);
  }
  return false;
}

// --- transport ------------------------------------------------------------------------------------

function methodName(method: number): string {
  return Object.entries(StunMethod).find(([, v]) => v === method)?.[0] ?? `method 0x${method.toString(16)}`;
}

/** One UDP socket, one 5-tuple: TURN allocations are keyed on it, so keep it for Refresh. */
export class TurnClient {
  private readonly socket = dgram.createSocket('udp4');
  private readonly waiters = new Map<string, { onMessage: (m: StunMessage) => void; onClose: (e: Error) => void }>();
  private readonly bound: Promise<void>;
  private closed = false;
  private realm: string | null = null;
  private nonce: string | null = null;
  /** Datagrams that were not STUN we could parse; kept so a test can show them if something is off. */
  readonly garbage: string[] = [];

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly timeoutMs = 3000,
  ) {
    this.socket.on('message', (buf) => {
      let m: StunMessage;
      try {
        m = decodeMessage(buf);
      } catch (e) {
        if (this.garbage.length < 20) this.garbage.push((e as Error).message);
        return;
      }
      this.waiters.get(m.transactionId.toString('hex'))?.onMessage(m);
    });
    this.bound = new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(0, '127.0.0.1', () => {
        this.socket.off('error', reject);
        // A socket error after bind fails whatever is in flight instead of crashing the worker.
        this.socket.on('error', (e) => this.failAll(e));
        resolve();
      });
    });
  }

  /**
   * Sends a request and waits for the response with the same transaction id. Retransmits on a
   * doubling interval as RFC 5389 §7.2.1 asks, since UDP may drop the first copy.
   */
  async transact(method: number, attrs: StunAttribute[], key?: Buffer): Promise<StunMessage> {
    if (this.closed) throw new Error('TURN client is closed');
    await this.bound;
    const tid = crypto.randomBytes(12);
    const msg = encodeMessage(method, StunClass.Request, tid, attrs, key);
    const id = tid.toString('hex');
    return new Promise<StunMessage>((resolve, reject) => {
      let rto = 100;
      let retry: NodeJS.Timeout | undefined;
      const send = () => {
        this.socket.send(msg, this.port, this.host, (err) => {
          if (err) finish(() => reject(err));
        });
      };
      const schedule = () => {
        retry = setTimeout(() => {
          send();
          rto = Math.min(rto * 2, 1600);
          schedule();
        }, rto);
      };
      const deadline = setTimeout(() => finish(() => reject(new StunTimeoutError(methodName(method), this.host, this.port, this.timeoutMs))), this.timeoutMs);
      const finish = (f: () => void) => {
        clearTimeout(deadline);
        if (retry) clearTimeout(retry);
        this.waiters.delete(id);
        f();
      };
      this.waiters.set(id, {
        onMessage: (m) => {
          if (m.method !== method || (m.cls !== StunClass.Success && m.cls !== StunClass.Error)) return;
          finish(() => resolve(m));
        },
        onClose: (e) => finish(() => reject(e)),
      });
      send();
      schedule();
    });
  }

  /** Plain Binding request: proves something answers STUN on that port. */
  async binding(): Promise<TransportAddress> {
    const m = await this.transact(StunMethod.Binding, []);
    if (m.cls !== StunClass.Success) {
      const e = decodeErrorCode(m);
      throw new Error(`Binding failed: ${e.errorCode} ${e.reason}`);
    }
    const x = attr(m, Attr.XOR_MAPPED_ADDRESS);
    if (x) return decodeAddress(x, true, m.transactionId);
    const plain = attr(m, Attr.MAPPED_ADDRESS);
    if (plain) return decodeAddress(plain, false, m.transactionId);
    throw new Error('Binding success without a mapped address');
  }

  /**
   * Allocate with the long-term mechanism (RFC 5766 §6.1, RFC 5389 §10.2): the first, unsigned
   * request is expected to be refused with 401 and the server's REALM and NONCE; the second is
   * signed. A 438 (stale nonce) gets one more try with the fresh nonce.
   */
  async allocate(username: string, password: string): Promise<AllocateResult> {
    if (Buffer.byteLength(username, 'utf8') > MAX_USERNAME_BYTES) throw new Error(`USERNAME longer than ${MAX_USERNAME_BYTES} bytes`);
    const transport = Buffer.from([UDP_PROTOCOL, 0, 0, 0]);
    const base: StunAttribute[] = [{ type: Attr.REQUESTED_TRANSPORT, value: transport }];

    let m = await this.transact(StunMethod.Allocate, base);
    if (m.cls === StunClass.Success) return this.allocated(m, null);
    const first = decodeErrorCode(m);
    if (first.errorCode !== 401) return { ok: false, ...first };
    this.takeRealmAndNonce(m);

    for (let attempt = 0; attempt < 2; attempt++) {
      const key = longTermKey(username, this.realm!, password);
      m = await this.transact(StunMethod.Allocate, [...base, ...this.credentialAttrs(username)], key);
      if (m.cls === StunClass.Success) return this.allocated(m, key);
      const e = decodeErrorCode(m);
      if (e.errorCode === 438 && attempt === 0) {
        this.takeRealmAndNonce(m);
        continue;
      }
      return { ok: false, ...e };
    }
    throw new Error('unreachable: allocate retry loop');
  }

  /**
   * Refresh on the same 5-tuple with the same credentials; lifetime 0 releases the allocation.
   * Needs a successful allocate() first, since that is where the realm and nonce come from.
   */
  async refresh(username: string, password: string, lifetimeSeconds: number): Promise<RefreshResult> {
    if (this.realm === null) throw new Error('refresh() before a challenge: call allocate() first');
    const life = Buffer.alloc(4);
    life.writeUInt32BE(lifetimeSeconds, 0);
    for (let attempt = 0; attempt < 2; attempt++) {
      const key = longTermKey(username, this.realm, password);
      const m = await this.transact(StunMethod.Refresh, [{ type: Attr.LIFETIME, value: life }, ...this.credentialAttrs(username)], key);
      if (m.cls === StunClass.Success) {
        if (!verifyIntegrity(m, key)) throw new Error('Refresh success without a valid MESSAGE-INTEGRITY');
        return { ok: true, lifetimeSeconds: decodeLifetime(m) };
      }
      const e = decodeErrorCode(m);
      if (e.errorCode === 438 && attempt === 0) {
        this.takeRealmAndNonce(m);
        continue;
      }
      return { ok: false, ...e };
    }
    throw new Error('unreachable: refresh retry loop');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('TURN client closed with a request in flight'));
    try {
      this.socket.close();
    } catch {
      // already closed by an error
    }
  }

  private failAll(e: Error): void {
    for (const w of [...this.waiters.values()]) w.onClose(e);
    this.waiters.clear();
  }

  private credentialAttrs(username: string): StunAttribute[] {
    return [
      { type: Attr.USERNAME, value: Buffer.from(username, 'utf8') },
      { type: Attr.REALM, value: Buffer.from(this.realm!, 'utf8') },
      { type: Attr.NONCE, value: Buffer.from(this.nonce!, 'utf8') },
    ];
  }

  private takeRealmAndNonce(m: StunMessage): void {
    const realm = decodeShortText(m, Attr.REALM, 'REALM');
    const nonce = decodeShortText(m, Attr.NONCE, 'NONCE');
    if (realm === null || nonce === null) throw new Error('challenge without REALM and NONCE');
    this.realm = realm;
    this.nonce = nonce;
  }

  private allocated(m: StunMessage, key: Buffer | null): AllocateResult {
    if (key && !verifyIntegrity(m, key)) throw new Error('Allocate success without a valid MESSAGE-INTEGRITY');
    const relayed = attr(m, Attr.XOR_RELAYED_ADDRESS);
    if (!relayed) throw new Error('Allocate success without XOR-RELAYED-ADDRESS');
    const mapped = attr(m, Attr.XOR_MAPPED_ADDRESS);
    return {
      ok: true,
      relayed: decodeAddress(relayed, true, m.transactionId),
      mapped: mapped ? decodeAddress(mapped, true, m.transactionId) : null,
      lifetimeSeconds: decodeLifetime(m),
    };
  }
}

/**
 * One-shot allocation: allocate, then release it (Refresh with lifetime 0) so repeated tests do
 * not use up the server's small relay port range, and close the socket.
 */
export async function turnAllocate(opts: { host: string; port: number; username: string; password: string; timeoutMs?: number }): Promise<AllocateResult> {
  const c = new TurnClient(opts.host, opts.port, opts.timeoutMs);
  try {
    const r = await c.allocate(opts.username, opts.password);
    if (r.ok) await c.refresh(opts.username, opts.password, 0);
    return r;
  } finally {
    c.close();
  }
}

/** Resolves when a STUN Binding on host:port is answered; rejects with StunTimeoutError otherwise. */
export async function stunBinding(host: string, port: number, timeoutMs = 1000): Promise<TransportAddress> {
  const c = new TurnClient(host, port, timeoutMs);
  try {
    return await c.binding();
  } finally {
    c.close();
  }
}

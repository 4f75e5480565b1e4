import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import type { AuditEvent, AuditOutcome } from '../../common/audit-chain.js';
import { missingCase } from '../../common/missing-case.js';

/** RFC 5424 facility codes the broker may be configured with. */
export const FACILITY = { auth: 4, authpriv: 10, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23 } as const;
export const SEVERITY = { warning: 4, notice: 5 } as const;

export const APP_NAME = 'chaperone-broker';
/** The structured-data ID: chaperone under the documentation private enterprise number. */
export const SD_ID = 'chaperone@32473';

export interface SyslogFormatOptions {
  facility?: number;
  hostname?: string;
  procId?: string;
  /** Whole-message bound; above it the meta is dropped from the JSON body. */
  maxBytes?: number;
}

export function severityOf(outcome: AuditOutcome): number {
  switch (outcome) {
    case 'success':
      return SEVERITY.notice;
    case 'failure':
    case 'denied':
      return SEVERITY.warning;
    default:
      return missingCase(outcome);
  }
}

/** RFC 5424 §6.3.3: inside PARAM-VALUE only '"', '\' and ']' are escaped, each with a backslash. */
export function escapeParamValue(v: string): string {
  // Control characters are legal but break line-oriented collectors and enable log forging in
  // naive viewers; the JSON body keeps the exact value.
  // eslint-disable-next-line no-control-regex
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f]/g, '?');
}

/** HEADER fields are PRINTUSASCII without spaces, bounded; anything else becomes '-' (NILVALUE). */
function headerField(v: string, max: number): string {
  const clean = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** A pure-ASCII body needs no BOM (RFC 5424 §6.4) and survives collectors that mangle UTF-8. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

let cachedHost: string | null = null;
const defaultHostname = (): string => (cachedHost ??= headerField(os.hostname(), 255));

/** `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] JSON` for one audit event. */
export function formatSyslog(e: AuditEvent, opts: SyslogFormatOptions = {}): string {
  const pri = (opts.facility ?? FACILITY.authpriv) * 8 + severityOf(e.outcome);
  const header = [
    `<${pri}>1`,
    new Date(e.ts).toISOString(),
    opts.hostname === undefined ? defaultHostname() : headerField(opts.hostname, 255),
    APP_NAME,
    headerField(opts.procId ?? String(process.pid), 128),
    headerField(e.type, 32),
  ].join(' ');
  const params: [string, string | number | null][] = [
    ['seq', e.seq],
    ['id', e.id],
    ['type', e.type],
    ['outcome', e.outcome],
    ['actor', e.actor],
    ['session_id', e.session_id],
    ['ticket', e.ticket],
    ['source', e.source],
    ['hash', e.hash],
  ];
  const sd = `[${SD_ID}${params
    .filter((p): p is [string, string | number] => p[1] !== null)
    .map(([k, v]) => ` ${k}="${escapeParamValue(String(v))}"`)
    .join('')}]`;
  const msg = `${header} ${sd} ${asciiJson(e)}`;
  const max = opts.maxBytes ?? 8192;
  if (Buffer.byteLength(msg) <= max) return msg;
  const shorter = `${header} ${sd} ${asciiJson({ ...e, meta: { _truncated: true } })}`;
  // Receivers drop or split oversize messages; a cut message still carries the SD fields.
  return Buffer.byteLength(shorter) <= max ? shorter : Buffer.from(shorter).subarray(0, max).toString();
}

export interface SyslogSinkOptions {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  facility?: number;
  hostname?: string;
  /** Bytes waiting to be sent before new events are dropped (and counted). */
  maxBufferBytes?: number;
  maxMessageBytes?: number;
  /** How long close() waits for queued messages. */
  closeTimeoutMs?: number;
}

export interface SyslogStats {
  sent: number;
  dropped: number;
  errors: number;
}

export interface SyslogSink {
  /** Never throws and never blocks: the audit log's commit path calls it. */
  send(e: AuditEvent): void;
  close(): Promise<void>;
  stats(): SyslogStats;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

export function createSyslogSink(o: SyslogSinkOptions): SyslogSink {
  const transport = o.transport;
  switch (transport) {
    case 'udp':
      return new UdpSink(o);
    case 'tcp':
      return new TcpSink(o);
    default:
      return missingCase(transport);
  }
}

abstract class BaseSink implements SyslogSink {
  protected readonly counters: SyslogStats = { sent: 0, dropped: 0, errors: 0 };
  protected closed = false;
  protected readonly maxBuffer: number;
  private readonly fmt: SyslogFormatOptions;

  constructor(protected readonly o: SyslogSinkOptions) {
    this.maxBuffer = o.maxBufferBytes ?? 1024 * 1024;
    this.fmt = { facility: o.facility, hostname: o.hostname, maxBytes: o.maxMessageBytes };
  }

  send(e: AuditEvent): void {
    if (this.closed) {
      this.counters.dropped++;
      return;
    }
    try {
      this.enqueue(Buffer.from(formatSyslog(e, this.fmt)));
    } catch {
      this.counters.errors++;
    }
  }

  stats(): SyslogStats {
    return { ...this.counters };
  }

  abstract close(): Promise<void>;
  protected abstract enqueue(msg: Buffer): void;

  protected closeTimeout(): number {
    return this.o.closeTimeoutMs ?? 2000;
  }
}

/** RFC 5426: one message per datagram, on a connected socket so the name is resolved once. */
class UdpSink extends BaseSink {
  private socket: dgram.Socket | null = null;
  private connected = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inflightBytes = 0;
  private retryAt = 0;
  private idle: (() => void)[] = [];

  protected enqueue(msg: Buffer): void {
    if (this.pendingBytes + this.inflightBytes + msg.length > this.maxBuffer) {
      this.counters.dropped++;
      return;
    }
    if (this.connected && this.socket) return this.transmit(this.socket, msg);
    this.pending.push(msg);
    this.pendingBytes += msg.length;
    this.connect();
  }

  private connect(): void {
    if (this.socket || Date.now() < this.retryAt) return;
    const s = dgram.createSocket(net.isIPv6(this.o.host) ? 'udp6' : 'udp4');
    this.socket = s;
    s.unref();
    s.on('error', () => {
      this.counters.errors++;
      if (!this.connected) this.reset(s);
    });
    s.connect(this.o.port, this.o.host, () => {
      if (this.socket !== s) return;
      this.connected = true;
      const queued = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      for (const m of queued) this.transmit(s, m);
    });
  }

  /** A failed connect (DNS) drops what waited for it and backs off before the next try. */
  private reset(s: dgram.Socket): void {
    if (this.socket !== s) return;
    this.socket = null;
    this.connected = false;
    this.counters.dropped += this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.retryAt = Date.now() + RETRY_MIN_MS * 10;
    try {
      s.close();
    } catch {
      // already closed
    }
    this.wakeIdle();
  }

  private transmit(s: dgram.Socket, msg: Buffer): void {
    this.inflightBytes += msg.length;
    try {
      s.send(msg, (err) => {
        this.inflightBytes -= msg.length;
        // ECONNREFUSED from an ICMP port-unreachable lands here: the collector is down.
        if (err) this.counters.errors++;
        else this.counters.sent++;
        this.wakeIdle();
      });
    } catch {
      this.inflightBytes -= msg.length;
      this.counters.errors++;
    }
  }

  private wakeIdle(): void {
    if (this.inflightBytes > 0 || this.pending.length > 0) return;
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.socket;
    if (!s) {
      this.counters.dropped += this.pending.length;
      return;
    }
    if (this.inflightBytes > 0 || this.pending.length > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.closeTimeout());
        t.unref();
        this.idle.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.counters.dropped += this.pending.length;
    this.pending = [];
    this.socket = null;
    await new Promise<void>((resolve) => {
      try {
        s.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

/** RFC 6587 octet counting: `LEN SP MSG`, so messages may contain newlines. Reconnects with backoff. */
class TcpSink extends BaseSink {
  private socket: net.Socket | null = null;
  private ready = false;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private backoff = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private drained: (() => void) | null = null;

  protected enqueue(msg: Buffer): void {
    const frame = Buffer.concat([Buffer.from(`${msg.length} `), msg]);
    const buffered = this.queuedBytes + (this.socket?.writableLength ?? 0);
    if (buffered + frame.length > this.maxBuffer) {
      this.counters.dropped++;
      return;
    }
    if (this.ready && this.socket) {
      this.socket.write(frame);
      this.counters.sent++;
      return;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    this.connect();
  }

  private connect(): void {
    if (this.socket || this.retryTimer || this.closed) return;
    const s = net.connect({ host: this.o.host, port: this.o.port });
    this.socket = s;
    s.unref();
    s.setKeepAlive(true, 30_000);
    s.on('connect', () => {
      this.ready = true;
      this.backoff = RETRY_MIN_MS;
      const q = this.queue;
      this.queue = [];
      this.queuedBytes = 0;
      for (const f of q) {
        s.write(f);
        this.counters.sent++;
      }
      this.notifyDrained();
    });
    s.on('error', () => {
      this.counters.errors++;
    });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.ready = false;
      if (this.closed) {
        this.counters.dropped += this.queue.length;
        this.queue = [];
        this.queuedBytes = 0;
        this.notifyDrained();
        return;
      }
      // Reconnect even with nothing queued, so the next event does not wait for a handshake.
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.connect();
      }, this.backoff);
      this.retryTimer.unref();
      this.backoff = Math.min(this.backoff * 2, RETRY_MAX_MS);
    });
  }

  private notifyDrained(): void {
    if (this.queue.length === 0 && this.drained) this.drained();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const s = this.socket;
    if (s && this.queue.length > 0) {
      // Still connecting: give the queue a bounded chance to go out.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.closeTimeout());
        t.unref();
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.drained = null;
    }
    this.counters.dropped += this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.destroy();
        resolve();
      }, this.closeTimeout());
      t.unref();
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      s.end();
    });
  }
}

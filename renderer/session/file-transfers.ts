import { sha256 } from '@noble/hashes/sha2';
import { FILE_HIGH_WATER, FILE_LOW_WATER, FILE_PROGRESS_EVERY, FILE_RECEIVER_WINDOW, chunkBytes, decodeFileMessage, type FileMessage } from '../../common/files/protocol.js';
import { missingCase } from '../../common/missing-case.js';
import { Emitter } from './emitter.js';

/**
 * Both ends of file transfer on the files channel (common/files/protocol.ts). The sender hashes
 * the file in slices (never all of it in memory), offers {name, size, sha256}, and once the other
 * side accepts, sends it in chunks of min(maxMessageSize, 64 KiB), pausing above the high water
 * mark of bufferedAmount until it drains below the low one. The receiver hands every offer to a
 * sink (main on the end user's side, the browser's downloads on the analyst's) and reports
 * progress back. One transfer out and one in at a time.
 */

export interface FileSource {
  name: string;
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Where received bytes go: main's receiver over the bridge (end user), or a test's. */
export interface FileSink {
  offer(o: { id: string; name: string; size: number; sha256: string }): Promise<{ ok: true; saveAs: string } | { ok: false; reason: string }>;
  accept(id: string): Promise<{ ok: true } | { ok: false; reason: string }>;
  refuse(id: string): Promise<void>;
  write(id: string, offset: number, bytes: Uint8Array): Promise<{ ok: true } | { ok: false; reason: string }>;
  finish(id: string): Promise<{ ok: true; savedAs: string } | { ok: false; reason: string }>;
  cancel(id: string): Promise<void>;
}

export type TransferState = 'hashing' | 'offered' | 'waiting' | 'sending' | 'receiving' | 'checking' | 'saved' | 'refused' | 'cancelled' | 'failed';

export interface TransferView {
  id: string;
  /** `out`: this side sends. */
  way: 'out' | 'in';
  name: string;
  size: number;
  sha256: string | null;
  /** Bytes sent (sender) or written (receiver); the sender also hears what the receiver wrote. */
  done: number;
  landed: number;
  bytesPerSecond: number;
  secondsLeft: number | null;
  state: TransferState;
  /** Why it stopped, or the name it was saved under. */
  detail: string | null;
}

export interface TransferEvents extends Record<string, unknown> {
  update: TransferView;
  /** Receiver: an offer main accepted as possible; the end user decides. */
  incoming: TransferView;
}

const HASH_SLICE = 1024 * 1024;

export async function hashSource(src: FileSource, onProgress?: (done: number) => void): Promise<string> {
  const h = sha256.create();
  for (let off = 0; off < src.size; off += HASH_SLICE) {
    h.update(await src.read(off, Math.min(HASH_SLICE, src.size - off)));
    onProgress?.(Math.min(src.size, off + HASH_SLICE));
  }
  return [...h.digest()].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Speed over the last seconds, for "12.3 MB/s, 4 s left". */
class RateMeter {
  private samples: { at: number; bytes: number }[] = [];
  add(bytes: number, at: number): number {
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - this.samples[0]!.at > 2000) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (at - first.at) / 1000;
    return dt > 0.05 ? (bytes - first.bytes) / dt : 0;
  }
}

interface Out {
  view: TransferView;
  src: FileSource;
  accepted: (ok: boolean) => void;
  meter: RateMeter;
  /** Woken when the receiver reports progress or the transfer ends. */
  waiters: (() => void)[];
}

interface In {
  view: TransferView;
  meter: RateMeter;
  writes: Promise<unknown>;
  queued: number;
  failed: string | null;
  lastReport: number;
  ended: boolean;
}

export interface ChannelLike {
  readonly readyState: string;
  bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  addEventListener(type: 'bufferedamountlow' | 'close', fn: () => void): void;
  removeEventListener(type: 'bufferedamountlow' | 'close', fn: () => void): void;
}

export class FileTransfers extends Emitter<TransferEvents> {
  private out: Out | null = null;
  private inbound: In | null = null;
  private readonly now: () => number;

  constructor(
    private readonly channel: () => { channel: ChannelLike; maxMessageSize: number | null } | null,
    private readonly sink: FileSink | null,
    opts: { now?: () => number } = {},
  ) {
    super();
    this.now = opts.now ?? (() => Date.now());
  }

  get busy(): boolean {
    return this.out !== null || this.inbound !== null;
  }

  /** A file is on its way out (one at a time each way; one may come in meanwhile). */
  get sending(): boolean {
    return this.out !== null;
  }

  /** Sends one file: hash, offer, wait for the answer, stream. Resolves with how it ended. */
  async send(src: FileSource, id: string): Promise<TransferView> {
    if (this.out) throw new Error('a file is already being sent');
    const view: TransferView = { id, way: 'out', name: src.name, size: src.size, sha256: null, done: 0, landed: 0, bytesPerSecond: 0, secondsLeft: null, state: 'hashing', detail: null };
    let accepted!: (ok: boolean) => void;
    const answer = new Promise<boolean>((r) => (accepted = r));
    const o: Out = { view, src, accepted, meter: new RateMeter(), waiters: [] };
    this.out = o;
    this.update(view);
    try {
      view.sha256 = await hashSource(src);
      if (this.out !== o) return view;
      const ch = this.channel();
      if (!ch) return this.endOut(o, 'failed', 'not_connected');
      this.sendText(ch.channel, { t: 'offer', id, name: src.name, size: src.size, sha256: view.sha256 });
      view.state = 'offered';
      this.update(view);
      if (!(await answer) || this.out !== o) return view;
      view.state = 'sending';
      this.update(view);
      await this.stream(o, ch.channel, chunkBytes(ch.maxMessageSize));
      if (this.out !== o) return view;
      this.sendText(ch.channel, { t: 'end', id });
      view.state = 'waiting';
      this.update(view);
      // The receiver's saved or failed ends it.
      await new Promise<void>((resolve) => {
        const off = this.on('update', (v) => {
          if (v.id === id && v.way === 'out' && ['saved', 'failed', 'cancelled'].includes(v.state)) {
            off();
            resolve();
          }
        });
      });
      return view;
    } catch (err) {
      if (this.out === o) this.endOut(o, 'failed', (err as Error).message.slice(0, 64));
      return view;
    }
  }

  private async stream(o: Out, ch: ChannelLike, chunk: number): Promise<void> {
    ch.bufferedAmountLowThreshold = FILE_LOW_WATER;
    const slice = Math.max(chunk, 1024 * 1024);
    for (let off = 0; off < o.src.size && this.out === o; ) {
      const bytes = await o.src.read(off, Math.min(slice, o.src.size - off));
      for (let i = 0; i < bytes.length && this.out === o; i += chunk) {
        if (ch.bufferedAmount > FILE_HIGH_WATER) await drained(ch);
        while (o.view.done - o.view.landed > FILE_RECEIVER_WINDOW && this.out === o) await new Promise<void>((r) => o.waiters.push(r));
        if (this.out !== o) return;
        if (ch.readyState !== 'open') throw new Error('channel_closed');
        ch.send(bytes.subarray(i, Math.min(bytes.length, i + chunk)));
        o.view.done = off + Math.min(bytes.length, i + chunk);
      }
      off += bytes.length;
      this.progress(o.view, o.meter, o.view.done);
    }
  }

  /** Receiver: the end user's Accept or Refuse on the offer shown. */
  async answer(id: string, accept: boolean): Promise<void> {
    const t = this.inbound;
    const ch = this.channel();
    if (!t || t.view.id !== id || t.view.state !== 'offered' || !this.sink) return;
    if (!accept) {
      await this.sink.refuse(id);
      this.inbound = null;
      t.view.state = 'refused';
      if (ch) this.sendText(ch.channel, { t: 'refuse', id, reason: 'declined' });
      this.update(t.view);
      return;
    }
    const r = await this.sink.accept(id);
    if (!r.ok) return this.endIn(t, 'failed', r.reason, true);
    t.view.state = 'receiving';
    this.update(t.view);
    if (ch) this.sendText(ch.channel, { t: 'accept', id });
  }

  /** Either side stops the transfer in flight. */
  async cancel(id: string, reason = 'cancelled'): Promise<void> {
    const ch = this.channel();
    if (this.out?.view.id === id) {
      const o = this.out;
      if (ch) this.sendText(ch.channel, { t: 'cancel', id, reason });
      this.endOut(o, 'cancelled', reason);
      o.accepted(false);
      return;
    }
    if (this.inbound?.view.id === id) {
      const t = this.inbound;
      await this.sink?.cancel(id);
      this.endIn(t, 'cancelled', reason, true);
    }
  }

  /** Main stopped every transfer (the grant went, the session ended): say so to the other side. */
  stoppedHere(reason: string): void {
    if (this.inbound) {
      void this.sink?.cancel(this.inbound.view.id);
      this.endIn(this.inbound, 'cancelled', reason, true);
    }
    if (this.out) void this.cancel(this.out.view.id, reason);
  }

  /** One message of the files channel. */
  onMessage(data: string | ArrayBuffer): void {
    if (typeof data !== 'string') return this.onBytes(new Uint8Array(data));
    const m = decodeFileMessage(data);
    if (m) void this.onText(m);
  }

  private async onText(m: FileMessage): Promise<void> {
    switch (m.t) {
      case 'offer':
        return this.onOffer(m);
      case 'accept':
      case 'refuse': {
        const o = this.out;
        if (!o || o.view.id !== m.id || o.view.state !== 'offered') return;
        if (m.t === 'refuse') this.endOut(o, 'refused', m.reason);
        o.accepted(m.t === 'accept');
        return;
      }
      case 'progress':
        if (this.out?.view.id === m.id) {
          this.out.view.landed = Math.min(m.written, this.out.view.size);
          for (const w of this.out.waiters.splice(0)) w();
          this.update(this.out.view);
        }
        return;
      case 'saved':
        if (this.out?.view.id === m.id) {
          this.out.view.landed = this.out.view.size;
          this.endOut(this.out, 'saved', m.as);
        }
        return;
      case 'failed':
        if (this.out?.view.id === m.id) this.endOut(this.out, 'failed', m.reason);
        return;
      case 'cancel':
        if (this.out?.view.id === m.id) {
          const o = this.out;
          this.endOut(o, 'cancelled', m.reason);
          o.accepted(false);
        } else if (this.inbound?.view.id === m.id) {
          const t = this.inbound;
          await this.sink?.cancel(m.id);
          this.endIn(t, 'cancelled', m.reason, false);
        }
        return;
      case 'end':
        return this.onEnd(m.id);
      default:
        return missingCase(m);
    }
  }

  private async onOffer(m: Extract<FileMessage, { t: 'offer' }>): Promise<void> {
    const ch = this.channel();
    if (!ch) return;
    if (!this.sink) return this.sendText(ch.channel, { t: 'refuse', id: m.id, reason: 'not_accepted_here' });
    if (this.inbound) return this.sendText(ch.channel, { t: 'refuse', id: m.id, reason: 'busy' });
    const r = await this.sink.offer({ id: m.id, name: m.name, size: m.size, sha256: m.sha256 });
    if (!r.ok) return this.sendText(ch.channel, { t: 'refuse', id: m.id, reason: r.reason });
    const view: TransferView = { id: m.id, way: 'in', name: r.saveAs, size: m.size, sha256: m.sha256, done: 0, landed: 0, bytesPerSecond: 0, secondsLeft: null, state: 'offered', detail: null };
    this.inbound = { view, meter: new RateMeter(), writes: Promise.resolve(), queued: 0, failed: null, lastReport: 0, ended: false };
    this.emit('incoming', view);
    this.update(view);
  }

  private onBytes(bytes: Uint8Array): void {
    const t = this.inbound;
    const sink = this.sink;
    if (!t || !sink || t.view.state !== 'receiving' || t.failed) return;
    const offset = t.queued;
    const end = offset + bytes.length;
    t.queued = end;
    // Calls go in order; main checks each offset, so a gap or a repeat ends the transfer there.
    // What follows refers to `end`, not `bytes`: the message must not stay reachable until main answers.
    const w = sink.write(t.view.id, offset, bytes);
    t.writes = Promise.all([t.writes, w]).then(([, r]) => {
      if (this.inbound !== t) return;
      if (!r.ok) {
        t.failed = r.reason;
        this.endIn(t, 'failed', r.reason, true);
        return;
      }
      t.view.done = Math.max(t.view.done, end);
      t.view.landed = t.view.done;
      if (t.view.done - t.lastReport >= FILE_PROGRESS_EVERY || t.view.done === t.view.size) {
        t.lastReport = t.view.done;
        const ch = this.channel();
        if (ch) this.sendText(ch.channel, { t: 'progress', id: t.view.id, written: t.view.done });
        this.progress(t.view, t.meter, t.view.done);
      }
    });
  }

  private async onEnd(id: string): Promise<void> {
    const t = this.inbound;
    if (!t || t.view.id !== id || t.view.state !== 'receiving' || !this.sink) return;
    t.ended = true;
    await t.writes;
    if (this.inbound !== t) return;
    t.view.state = 'checking';
    this.update(t.view);
    const r = await this.sink.finish(id);
    if (this.inbound !== t) return;
    const ch = this.channel();
    if (!r.ok) return this.endIn(t, 'failed', r.reason, true);
    if (ch) this.sendText(ch.channel, { t: 'saved', id, as: r.savedAs });
    this.inbound = null;
    t.view.state = 'saved';
    t.view.detail = r.savedAs;
    t.view.secondsLeft = 0;
    this.update(t.view);
  }

  private endOut(o: Out, state: TransferState, detail: string | null): TransferView {
    if (this.out === o) this.out = null;
    for (const w of o.waiters.splice(0)) w();
    o.view.state = state;
    o.view.detail = detail;
    o.view.secondsLeft = null;
    this.update(o.view);
    return o.view;
  }

  private endIn(t: In, state: TransferState, detail: string, tellSender: boolean): void {
    if (this.inbound !== t) return;
    this.inbound = null;
    const ch = this.channel();
    if (tellSender && ch) this.sendText(ch.channel, state === 'failed' ? { t: 'failed', id: t.view.id, reason: detail.slice(0, 64) } : { t: 'cancel', id: t.view.id, reason: detail.slice(0, 64) });
    t.view.state = state;
    t.view.detail = detail;
    t.view.secondsLeft = null;
    this.update(t.view);
  }

  private progress(v: TransferView, meter: RateMeter, done: number): void {
    v.bytesPerSecond = meter.add(done, this.now());
    v.secondsLeft = v.bytesPerSecond > 0 ? Math.ceil((v.size - done) / v.bytesPerSecond) : null;
    this.update(v);
  }

  private update(v: TransferView): void {
    this.emit('update', { ...v });
  }

  private sendText(ch: ChannelLike, m: FileMessage): void {
    if (ch.readyState === 'open') ch.send(JSON.stringify(m));
  }
}

function drained(ch: ChannelLike): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      ch.removeEventListener('bufferedamountlow', done);
      ch.removeEventListener('close', done);
      resolve();
    };
    ch.addEventListener('bufferedamountlow', done);
    ch.addEventListener('close', done);
  });
}

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { numberedName, safeFileName } from '../../common/files/safe-name.js';

export const DEFAULT_MAX_FILE_BYTES = 2 * 1024 ** 3;
const PARTIAL_SUFFIX = '.chaperone-partial';

export interface IncomingOffer {
  sessionId: string;
  id: string;
  name: string;
  size: number;
  sha256: string;
}

export type OfferCheck = { ok: true; saveAs: string; folder: string } | { ok: false; reason: 'not_granted' | 'too_large' | 'busy' | 'duplicate' };
export type FinishResult = { ok: true; savedAs: string; sha256: string } | { ok: false; reason: 'size_mismatch' | 'hash_mismatch' | 'unknown_transfer' | 'write_failed' };

interface Transfer extends IncomingOffer {
  saveAs: string;
  state: 'offered' | 'receiving';
  fd: number | null;
  temp: string | null;
  written: number;
  hash: crypto.Hash;
}

export interface FileReceiverOptions {
  /** The folder the end user sees (Downloads by default); nothing is written anywhere else. */
  folder: string;
  maxBytes?: number;
  /** Whether a live files grant lets files come to this computer in the session now. */
  allowed: (sessionId: string) => boolean;
}

/**
 * Files coming to the end user's computer. Nothing touches the disk before the end user accepts;
 * then bytes go to a temporary name (0600, created exclusively) in the folder, and only a file
 * whose size and SHA-256 match the offer is moved to its final name, which never overwrites
 * anything (a hard link, which fails when the name exists, then the temporary name goes). Every
 * end that is not a match (cancel, revoke, session end, a wrong hash) deletes the partial file.
 */
export class FileReceiver {
  private readonly transfers = new Map<string, Transfer>();
  readonly folder: string;
  readonly maxBytes: number;

  constructor(private readonly opts: FileReceiverOptions) {
    this.folder = path.resolve(opts.folder);
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  }

  offer(o: IncomingOffer): OfferCheck {
    if (!this.opts.allowed(o.sessionId)) return { ok: false, reason: 'not_granted' };
    if (o.size > this.maxBytes) return { ok: false, reason: 'too_large' };
    if (this.transfers.has(o.id)) return { ok: false, reason: 'duplicate' };
    // One at a time: the end user decides about one file, and one partial file exists at most.
    if (this.transfers.size > 0) return { ok: false, reason: 'busy' };
    const saveAs = safeFileName(o.name);
    this.transfers.set(o.id, { ...o, saveAs, state: 'offered', fd: null, temp: null, written: 0, hash: crypto.createHash('sha256') });
    return { ok: true, saveAs, folder: this.folder };
  }

  /** The end user's Accept: the temporary file is created now, never before. */
  accept(sessionId: string, id: string): { ok: true } | { ok: false; reason: string } {
    const t = this.transfers.get(id);
    if (!t || t.sessionId !== sessionId || t.state !== 'offered') return { ok: false, reason: 'unknown_transfer' };
    if (!this.opts.allowed(sessionId)) {
      this.drop(t);
      return { ok: false, reason: 'not_granted' };
    }
    fs.mkdirSync(this.folder, { recursive: true });
    const temp = this.inside(`.${crypto.randomBytes(8).toString('hex')}${PARTIAL_SUFFIX}`);
    t.fd = fs.openSync(temp, 'wx', 0o600);
    t.temp = temp;
    t.state = 'receiving';
    return { ok: true };
  }

  refuse(sessionId: string, id: string): void {
    const t = this.transfers.get(id);
    if (t && t.sessionId === sessionId) this.drop(t);
  }

  /** Bytes in order: `offset` must be what has been written, and nothing may pass the offered size. */
  write(sessionId: string, id: string, offset: number, data: Buffer): { ok: true; written: number } | { ok: false; reason: string } {
    const t = this.transfers.get(id);
    if (!t || t.sessionId !== sessionId || t.state !== 'receiving' || t.fd === null) return { ok: false, reason: 'unknown_transfer' };
    if (!this.opts.allowed(sessionId)) {
      this.drop(t);
      return { ok: false, reason: 'not_granted' };
    }
    if (offset !== t.written || t.written + data.length > t.size) {
      this.drop(t);
      return { ok: false, reason: 'out_of_order' };
    }
    try {
      let done = 0;
      while (done < data.length) done += fs.writeSync(t.fd, data, done, data.length - done);
    } catch {
      this.drop(t);
      return { ok: false, reason: 'write_failed' };
    }
    t.hash.update(data);
    t.written += data.length;
    return { ok: true, written: t.written };
  }

  finish(sessionId: string, id: string): FinishResult {
    const t = this.transfers.get(id);
    if (!t || t.sessionId !== sessionId || t.state !== 'receiving' || t.fd === null || !t.temp) return { ok: false, reason: 'unknown_transfer' };
    if (t.written !== t.size) {
      this.drop(t);
      return { ok: false, reason: 'size_mismatch' };
    }
    const digest = t.hash.digest('hex');
    if (digest !== t.sha256.toLowerCase()) {
      this.drop(t);
      return { ok: false, reason: 'hash_mismatch' };
    }
    fs.fsyncSync(t.fd);
    fs.closeSync(t.fd);
    t.fd = null;
    for (let n = 0; n < 10_000; n++) {
      const name = numberedName(t.saveAs, n);
      try {
        fs.linkSync(t.temp, this.inside(name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        this.drop(t);
        return { ok: false, reason: 'write_failed' };
      }
      fs.rmSync(t.temp, { force: true });
      this.transfers.delete(id);
      return { ok: true, savedAs: name, sha256: digest };
    }
    this.drop(t);
    return { ok: false, reason: 'write_failed' };
  }

  cancel(sessionId: string, id: string): boolean {
    const t = this.transfers.get(id);
    if (!t || t.sessionId !== sessionId) return false;
    this.drop(t);
    return true;
  }

  /** Revoke or session end: every transfer stops now and its partial file goes. */
  cancelAll(sessionId?: string): number {
    let n = 0;
    for (const t of [...this.transfers.values()]) {
      if (sessionId !== undefined && t.sessionId !== sessionId) continue;
      this.drop(t);
      n++;
    }
    return n;
  }

  /** What is in progress, for tests and the UI. */
  active(): { id: string; saveAs: string; written: number; size: number; state: string }[] {
    return [...this.transfers.values()].map((t) => ({ id: t.id, saveAs: t.saveAs, written: t.written, size: t.size, state: t.state }));
  }

  /** A path in the folder, checked: the name cannot climb out whatever it contains. */
  private inside(name: string): string {
    const p = path.resolve(this.folder, name);
    if (path.dirname(p) !== this.folder) throw new Error('a file name left the receiving folder');
    return p;
  }

  private drop(t: Transfer): void {
    this.transfers.delete(t.id);
    if (t.fd !== null) {
      try {
        fs.closeSync(t.fd);
      } catch {
        /* already closed */
      }
      t.fd = null;
    }
    if (t.temp) fs.rmSync(t.temp, { force: true });
  }
}

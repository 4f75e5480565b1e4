import { missingCase } from '../../common/missing-case.js';
import { CLIPBOARD_POLL_MS, MAX_CLIPBOARD_CHARS, MAX_CLIPBOARD_IMAGE_BYTES, sameContent, type ClipboardContent, type ClipboardImageType, type ClipboardRefusal, type ClipboardSyncType } from '../../common/clipboard/protocol.js';
import type { ClipboardPort } from './port.js';

type Way = 'to_end_user' | 'from_end_user';

export type ClipboardChange = { text: string } | { image: { type: ClipboardImageType; bytes: Uint8Array } } | { refused: ClipboardRefusal };

export interface ClipboardWatchOptions {
  port: ClipboardPort;
  /** Whether a live clipboard grant lets text go `way` in the session now. */
  allows: (sessionId: string, way: Way) => boolean;
  /**
   * Whether pictures may be copied in the session: its signed offer says policy allows them and
   * the machine policy does not forbid them. Absent: text only.
   */
  images?: (sessionId: string) => boolean;
  /** The end user's clipboard changed: its text or picture to send, or why nothing is sent. */
  onChange: (sessionId: string, change: ClipboardChange) => void;
  /** For the transcript and the record: which way, what type and how long, never the content. */
  onSynced: (sessionId: string, way: Way, length: number, type: ClipboardSyncType) => void;
  onError?: (err: unknown) => void;
  pollMs?: number;
}

/**
 * Clipboard sync on the end user's machine. The clipboard is read only while a grant lets text
 * leave this computer: the first read is the grant's start (what was already there is not sent,
 * only what is copied afterwards), the last is the tick before the grant went. Text from the
 * analyst is written only while a grant lets it come, and is remembered so it is not sent back.
 */
export class ClipboardWatch {
  private readonly timers = new Map<string, ReturnType<typeof setInterval>>();
  private readonly last = new Map<string, ClipboardContent>();
  private readonly busy = new Set<string>();
  /** Bumped by each write here: a read that was under way across a write saw an old clipboard. */
  private readonly writes = new Map<string, number>();

  constructor(private readonly opts: ClipboardWatchOptions) {}

  start(sessionId: string): void {
    if (this.timers.has(sessionId) || !this.opts.allows(sessionId, 'from_end_user')) return;
    this.timers.set(
      sessionId,
      setInterval(() => void this.tick(sessionId), this.opts.pollMs ?? CLIPBOARD_POLL_MS),
    );
    void this.tick(sessionId);
  }

  stop(sessionId: string): void {
    const t = this.timers.get(sessionId);
    if (t) clearInterval(t);
    this.timers.delete(sessionId);
    this.last.delete(sessionId);
    this.writes.delete(sessionId);
  }

  watching(sessionId: string): boolean {
    return this.timers.has(sessionId);
  }

  async write(sessionId: string, text: string): Promise<{ ok: true } | { ok: false; reason: string }> {
    if (!this.opts.allows(sessionId, 'to_end_user')) return { ok: false, reason: 'not_granted' };
    if (text.length === 0 || text.length > MAX_CLIPBOARD_CHARS) return { ok: false, reason: 'too_large' };
    try {
      await this.opts.port.writeText(text);
    } catch (err) {
      this.opts.onError?.(err);
      return { ok: false, reason: 'write_failed' };
    }
    this.writes.set(sessionId, (this.writes.get(sessionId) ?? 0) + 1);
    if (this.timers.has(sessionId)) this.last.set(sessionId, { kind: 'text', text });
    this.opts.onSynced(sessionId, 'to_end_user', text.length, 'text');
    return { ok: true };
  }

  /** A picture from the analyst, written only while the grant lets it come and the session allows pictures. */
  async writeImage(sessionId: string, type: ClipboardImageType, bytes: Uint8Array): Promise<{ ok: true } | { ok: false; reason: string }> {
    if (!this.opts.allows(sessionId, 'to_end_user')) return { ok: false, reason: 'not_granted' };
    if (!this.imagesAllowed(sessionId)) return { ok: false, reason: 'images_not_allowed' };
    if (bytes.length === 0 || bytes.length > MAX_CLIPBOARD_IMAGE_BYTES) return { ok: false, reason: 'image_too_large' };
    try {
      await this.opts.port.writeImage(type, bytes);
    } catch (err) {
      this.opts.onError?.(err);
      return { ok: false, reason: 'write_failed' };
    }
    this.writes.set(sessionId, (this.writes.get(sessionId) ?? 0) + 1);
    if (this.timers.has(sessionId)) {
      // A clipboard may hand back another encoding of the same picture (Electron's re-encodes it):
      // what it holds now is what must not be sent back as the end user's.
      const back = await this.opts.port.read({ images: true }).catch(() => null);
      this.writes.set(sessionId, (this.writes.get(sessionId) ?? 0) + 1);
      this.last.set(sessionId, back?.kind === 'image' ? back : { kind: 'image', type, bytes });
    }
    this.opts.onSynced(sessionId, 'to_end_user', bytes.length, type);
    return { ok: true };
  }

  imagesAllowed(sessionId: string): boolean {
    return this.opts.images?.(sessionId) === true;
  }

  private async tick(sessionId: string): Promise<void> {
    if (this.busy.has(sessionId)) return;
    if (!this.opts.allows(sessionId, 'from_end_user')) return this.stop(sessionId);
    this.busy.add(sessionId);
    const writesBefore = this.writes.get(sessionId) ?? 0;
    try {
      const c = await this.opts.port.read({ images: this.imagesAllowed(sessionId) });
      // The grant may have gone while xclip ran: nothing read then is sent.
      if (!this.timers.has(sessionId) || !this.opts.allows(sessionId, 'from_end_user')) return;
      // The analyst's text was written while this read ran: what it saw is older than that text,
      // and taking it as the last content would send the analyst's own text back on the next tick.
      if ((this.writes.get(sessionId) ?? 0) !== writesBefore) return;
      const before = this.last.get(sessionId) ?? null;
      this.last.set(sessionId, c);
      if (before === null || sameContent(before, c)) return;
      switch (c.kind) {
        case 'text':
          if (c.text.length > MAX_CLIPBOARD_CHARS) return this.opts.onChange(sessionId, { refused: 'too_large' });
          this.opts.onChange(sessionId, { text: c.text });
          this.opts.onSynced(sessionId, 'from_end_user', c.text.length, 'text');
          return;
        case 'image':
          if (c.bytes === null || !this.imagesAllowed(sessionId)) return this.opts.onChange(sessionId, { refused: c.tooLarge ? 'image_too_large' : 'not_text' });
          if (c.bytes.length > MAX_CLIPBOARD_IMAGE_BYTES) return this.opts.onChange(sessionId, { refused: 'image_too_large' });
          this.opts.onChange(sessionId, { image: { type: c.type, bytes: c.bytes } });
          this.opts.onSynced(sessionId, 'from_end_user', c.bytes.length, c.type);
          return;
        case 'empty':
          return;
        default:
          return missingCase(c);
      }
    } catch (err) {
      this.opts.onError?.(err);
    } finally {
      this.busy.delete(sessionId);
    }
  }
}

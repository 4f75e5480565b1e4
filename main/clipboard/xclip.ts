import { execFile, spawn } from 'node:child_process';
import { MAX_CLIPBOARD_IMAGE_BYTES, type ClipboardContent, type ClipboardImageType } from '../../common/clipboard/protocol.js';
import type { ClipboardPort } from './port.js';

const TEXT_TARGETS = new Set(['UTF8_STRING', 'STRING', 'TEXT', 'text/plain', 'text/plain;charset=utf-8']);
/** Larger than any text that may go, so a longer one is seen as too long rather than cut. */
const MAX_READ_BYTES = 1024 * 1024;

/**
 * The X clipboard (the CLIPBOARD selection, what Ctrl+C and Ctrl+V use) through Debian's xclip.
 * Whoever wrote last owns the selection in X: `xclip -i` stays in the background serving it
 * until another program takes it over, and ends with the X display.
 */
export class XclipClipboard implements ClipboardPort {
  constructor(private readonly display: string) {}

  async read(opts: { images: boolean }): Promise<ClipboardContent> {
    const targets = await this.run(['-selection', 'clipboard', '-t', 'TARGETS', '-o'], MAX_READ_BYTES);
    if (!(targets instanceof Buffer)) return { kind: 'empty' };
    const list = targets.toString('utf8').split('\n').map((t) => t.trim());
    if (!list.some((t) => TEXT_TARGETS.has(t))) {
      if (!list.includes('image/png')) return list.some((t) => t.startsWith('image/')) ? { kind: 'image', type: 'image/png', bytes: null } : { kind: 'empty' };
      // Not allowed: the picture's bytes are never asked for, only the list of what is there.
      if (!opts.images) return { kind: 'image', type: 'image/png', bytes: null };
      // One byte over the bound is enough to know it is too large; xclip is stopped there.
      const png = await this.run(['-selection', 'clipboard', '-t', 'image/png', '-o'], MAX_CLIPBOARD_IMAGE_BYTES);
      if (png === 'too_large') return { kind: 'image', type: 'image/png', bytes: null, tooLarge: true };
      return png instanceof Buffer && png.length > 0 ? { kind: 'image', type: 'image/png', bytes: new Uint8Array(png) } : { kind: 'empty' };
    }
    const text = await this.run(['-selection', 'clipboard', '-t', 'UTF8_STRING', '-o'], MAX_READ_BYTES);
    return text instanceof Buffer && text.length > 0 ? { kind: 'text', text: text.toString('utf8') } : { kind: 'empty' };
  }

  writeText(text: string): Promise<void> {
    return this.write(['-selection', 'clipboard', '-i'], Buffer.from(text, 'utf8'));
  }

  writeImage(type: ClipboardImageType, bytes: Uint8Array): Promise<void> {
    return this.write(['-selection', 'clipboard', '-t', type, '-i'], bytes);
  }

  private write(args: string[], data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn('xclip', args, { env: { ...process.env, DISPLAY: this.display }, stdio: ['pipe', 'ignore', 'ignore'] });
      p.once('error', reject);
      // xclip forks to serve the selection; the first process exits once it owns it.
      p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`xclip exited with ${code}`))));
      p.stdin.end(data);
    });
  }

  /** stdout, null when the clipboard has nothing of that target (xclip exits 1), `too_large` past `max` bytes. */
  private run(args: string[], max: number): Promise<Buffer | null | 'too_large'> {
    return new Promise((resolve) => {
      execFile('xclip', args, { env: { ...process.env, DISPLAY: this.display }, timeout: 2000, maxBuffer: max, encoding: 'buffer' }, (err, stdout) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return resolve('too_large');
        resolve(err ? null : stdout);
      });
    });
  }
}

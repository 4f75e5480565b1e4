import { execFile, spawn } from 'node:child_process';
import type { ClipboardContent } from '../../common/clipboard/protocol.js';
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

  async read(): Promise<ClipboardContent> {
    const targets = await this.run(['-selection', 'clipboard', '-t', 'TARGETS', '-o']);
    if (targets === null) return { kind: 'empty' };
    const list = targets.split('\n').map((t) => t.trim());
    if (!list.some((t) => TEXT_TARGETS.has(t))) return list.some((t) => t.startsWith('image/')) ? { kind: 'image' } : { kind: 'empty' };
    const text = await this.run(['-selection', 'clipboard', '-t', 'UTF8_STRING', '-o']);
    return text ? { kind: 'text', text } : { kind: 'empty' };
  }

  writeText(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn('xclip', ['-selection', 'clipboard', '-i'], { env: { ...process.env, DISPLAY: this.display }, stdio: ['pipe', 'ignore', 'ignore'] });
      p.once('error', reject);
      // xclip forks to serve the selection; the first process exits once it owns it.
      p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`xclip exited with ${code}`))));
      p.stdin.end(text, 'utf8');
    });
  }

  /** stdout, or null when the clipboard has nothing of that target (xclip exits 1). */
  private run(args: string[]): Promise<string | null> {
    return new Promise((resolve) => {
      execFile('xclip', args, { env: { ...process.env, DISPLAY: this.display }, timeout: 2000, maxBuffer: MAX_READ_BYTES, encoding: 'utf8' }, (err, stdout) => resolve(err ? null : stdout));
    });
  }
}

import type { ClipboardContent } from '../../common/clipboard/protocol.js';
import type { ClipboardPort } from '../clipboard/port.js';

/** The part of Electron's clipboard module the port uses (a fake in tests). */
export interface ElectronClipboardLike {
  has(mimetype: string): Promise<boolean>;
  readText(): Promise<string>;
  writeText(text: string): Promise<void>;
}

/** The end user's system clipboard in the app, through Electron's clipboard module (main process only). */
export function electronClipboard(c: ElectronClipboardLike): ClipboardPort {
  return {
    read: async (): Promise<ClipboardContent> => {
      if (await c.has('text/plain')) {
        const text = await c.readText();
        return text ? { kind: 'text', text } : { kind: 'empty' };
      }
      return (await c.has('image/png')) ? { kind: 'image' } : { kind: 'empty' };
    },
    writeText: (text) => c.writeText(text),
  };
}

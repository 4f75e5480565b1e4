import { MAX_CLIPBOARD_IMAGE_BYTES, type ClipboardContent } from '../../common/clipboard/protocol.js';
import type { ClipboardPort } from '../clipboard/port.js';

/** The part of an Electron ClipboardItem the port uses. */
export interface ClipboardItemLike {
  readonly types: string[];
  getType(type: 'image/png'): Promise<Blob | object>;
}

/** The part of Electron's clipboard module the port uses (a fake in tests). */
export interface ElectronClipboardLike<Item extends ClipboardItemLike = ClipboardItemLike> {
  has(mimetype: string): Promise<boolean>;
  readText(): Promise<string>;
  writeText(text: string): Promise<void>;
  read(): Promise<Item[]>;
  write(items: Item[]): Promise<void>;
}

/**
 * The end user's system clipboard in the app, through Electron's clipboard module (main process
 * only). `pngItem` builds Electron's ClipboardItem for a picture from the analyst.
 */
export function electronClipboard<Item extends ClipboardItemLike>(c: ElectronClipboardLike<Item>, pngItem: (png: Blob) => Item): ClipboardPort {
  return {
    read: async ({ images }): Promise<ClipboardContent> => {
      if (await c.has('text/plain')) {
        const text = await c.readText();
        return text ? { kind: 'text', text } : { kind: 'empty' };
      }
      if (!(await c.has('image/png'))) return { kind: 'empty' };
      // Not allowed in this session: the picture is not read, only seen to be there.
      if (!images) return { kind: 'image', type: 'image/png', bytes: null };
      const item = (await c.read()).find((i) => i.types.includes('image/png'));
      if (!item) return { kind: 'empty' };
      const blob = await item.getType('image/png');
      if (!(blob instanceof Blob)) return { kind: 'empty' };
      if (blob.size > MAX_CLIPBOARD_IMAGE_BYTES) return { kind: 'image', type: 'image/png', bytes: null, tooLarge: true };
      return { kind: 'image', type: 'image/png', bytes: new Uint8Array(await blob.arrayBuffer()) };
    },
    writeText: (text) => c.writeText(text),
    writeImage: (type, bytes) => c.write([pngItem(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }))]),
  };
}

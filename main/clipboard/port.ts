import type { ClipboardContent, ClipboardImageType } from '../../common/clipboard/protocol.js';

/**
 * The end user's system clipboard as main sees it: the X clipboard through xclip here
 * (xclip.ts), Electron's clipboard module in the app (main/electron/clipboard.ts). Main reads it
 * only while a clipboard grant lets text leave this computer, and writes it only while one lets
 * text come to it (clipboard/watch.ts). A picture's bytes are read only when `images` says the
 * session may share pictures; otherwise the port only notes that a picture is there.
 */
export interface ClipboardPort {
  read(opts: { images: boolean }): Promise<ClipboardContent>;
  writeText(text: string): Promise<void>;
  writeImage(type: ClipboardImageType, bytes: Uint8Array): Promise<void>;
}

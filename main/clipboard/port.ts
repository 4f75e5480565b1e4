import type { ClipboardContent } from '../../common/clipboard/protocol.js';

/**
 * The end user's system clipboard as main sees it: the X clipboard through xclip here
 * (xclip.ts), Electron's clipboard module in the app (main/electron/clipboard.ts). Main reads it
 * only while a clipboard grant lets text leave this computer, and writes it only while one lets
 * text come to it (clipboard/watch.ts).
 */
export interface ClipboardPort {
  read(): Promise<ClipboardContent>;
  writeText(text: string): Promise<void>;
}

/**
 * The app's clipboard port (main/electron/clipboard.ts) on the fake Electron clipboard (the real
 * one needs the Electron binary): a picture is read only when the session allows pictures, one
 * over the bound is refused unread, and the analyst's picture is written as a PNG item.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_CLIPBOARD_IMAGE_BYTES } from '../../common/clipboard/protocol.js';
import { electronClipboard } from '../../main/electron/clipboard.js';
import { ClipboardItem, clipboard } from '../fakes/electron-module.js';

const pngItem = (bytes: Uint8Array) => new ClipboardItem({ 'image/png': new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/png' }) });

describe("the app's clipboard port", () => {
  let itemReads: number;
  const port = electronClipboard(
    {
      ...clipboard,
      has: (m) => clipboard.has(m),
      readText: () => clipboard.readText(),
      writeText: (t) => clipboard.writeText(t),
      write: (i) => clipboard.write(i),
      read: async () => {
        itemReads++;
        return clipboard.read();
      },
    },
    (png) => new ClipboardItem({ 'image/png': png }),
  );
  beforeEach(async () => {
    itemReads = 0;
    await clipboard.writeText('');
  });

  it('text as before; a picture where pictures may not go is seen but never read', async () => {
    await clipboard.writeText('hello');
    expect(await port.read({ images: false })).toEqual({ kind: 'text', text: 'hello' });
    await clipboard.write([pngItem(new Uint8Array([137, 80, 78, 71, 1, 2, 3]))]);
    expect(await port.read({ images: false })).toEqual({ kind: 'image', type: 'image/png', bytes: null });
    expect(itemReads).toBe(0);
  });

  it('a picture where pictures may go: its bytes; over the bound: refused as too large', async () => {
    const bytes = new Uint8Array([137, 80, 78, 71, 9, 9, 9]);
    await clipboard.write([pngItem(bytes)]);
    expect(await port.read({ images: true })).toEqual({ kind: 'image', type: 'image/png', bytes });
    await clipboard.write([pngItem(new Uint8Array(MAX_CLIPBOARD_IMAGE_BYTES + 1))]);
    expect(await port.read({ images: true })).toEqual({ kind: 'image', type: 'image/png', bytes: null, tooLarge: true });
  });

  it("the analyst's picture is written as a PNG item", async () => {
    const bytes = new Uint8Array([137, 80, 78, 71, 4, 5, 6]);
    await port.writeImage('image/png', bytes);
    const item = (await clipboard.read())[0]!;
    expect(item.types).toEqual(['image/png']);
    expect(new Uint8Array(await (await item.getType('image/png')).arrayBuffer())).toEqual(bytes);
  });
});

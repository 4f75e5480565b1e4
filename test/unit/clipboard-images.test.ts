/**
 * Pictures on the clipboard "where policy allows": the organisation's switch (off by default), the
 * words the end user reads for each answer, and the pieces a picture crosses the data channel and
 * the bridge in (in order, whole, bounded, never more than they claim).
 */
import { describe, expect, it } from 'vitest';
import { CLIPBOARD_IMAGE_PIECE_BYTES, ImageAssembler, MAX_CLIPBOARD_IMAGE_BYTES, decodeClipboardMessage, imagePieces, sameContent, toBase64 } from '../../common/clipboard/protocol.js';
import { grantWording } from '../../common/grant-direction.js';
import { DEFAULT_POLICY, OrgPolicySchema } from '../../common/policy.js';
import { changedInWords } from '../../renderer/app/screens/policy-words.js';

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256);

describe('clipboard pictures', () => {
  it('policy: text only unless the organisation switches pictures on; the console names the setting', () => {
    expect(DEFAULT_POLICY.clipboard_images).toBe(false);
    expect(OrgPolicySchema.parse({ clipboard_images: true }).clipboard_images).toBe(true);
    expect(OrgPolicySchema.safeParse({ clipboard_images: 'yes' }).success).toBe(false);
    expect(changedInWords(['clipboard_images'])).toBe('whether pictures may be copied through the clipboard');
  });

  it('the end user is told whether pictures are part of what they allow, each way', () => {
    expect(grantWording('clipboard', 'both').action).toBe('copy text between your clipboard and theirs');
    expect(grantWording('clipboard', 'both').sentence).toContain('Only text, never files or pictures.');
    expect(grantWording('clipboard', 'both', { images: true }).action).toBe('copy text and pictures between your clipboard and theirs');
    expect(grantWording('clipboard', 'both', { images: true }).sentence).toContain('Only text and pictures, never files.');
    expect(grantWording('clipboard', 'to_end_user', { images: true }).sentence).toBe('Text and pictures they copy arrive in your clipboard. Nothing you copy is sent to them.');
    expect(grantWording('clipboard', 'from_end_user', { images: false }).action).toBe('copy text from your clipboard to theirs');
  });

  it('a picture goes in pieces that each fit a message, and comes back whole only when every piece came in order', () => {
    const pic = bytes(CLIPBOARD_IMAGE_PIECE_BYTES * 2 + 100);
    const pieces = imagePieces('image/png', pic);
    expect(pieces).toHaveLength(3);
    for (const p of pieces) {
      const wire = JSON.stringify({ t: 'image', ...p });
      // Each fits the clipboard channel's message bound and the bridge's 64 KiB text frame.
      expect(decodeClipboardMessage(wire)).not.toBeNull();
      expect(wire.length).toBeLessThan(64 * 1024 - 200);
    }
    const a = new ImageAssembler();
    expect(a.add(pieces[0]!)).toBeNull();
    expect(a.add(pieces[1]!)).toBeNull();
    const whole = a.add(pieces[2]!);
    expect(whole?.type).toBe('image/png');
    expect(sameContent({ kind: 'image', type: 'image/png', bytes: whole!.bytes }, { kind: 'image', type: 'image/png', bytes: pic })).toBe(true);

    // A gap, a repeat, or a piece that disagrees on the size: nothing comes out.
    const b = new ImageAssembler();
    expect(b.add(pieces[0]!)).toBeNull();
    expect(b.add(pieces[2]!)).toBeNull();
    expect(b.add(pieces[1]!)).toBeNull();
    const c = new ImageAssembler();
    c.add(pieces[0]!);
    c.add(pieces[1]!);
    expect(c.add({ ...pieces[2]!, size: pic.length + 1 })).toBeNull();
    // A piece that brings more than the size it claims is dropped.
    const d = new ImageAssembler();
    expect(d.add({ type: 'image/png', size: 10, offset: 0, data: toBase64(bytes(20)) })).toBeNull();
  });

  it('the bound holds on the wire: a size over it, a piece over the piece size, or not base64 is not a message', () => {
    const ok = { t: 'image', type: 'image/png', size: 4, offset: 0, data: toBase64(bytes(4)) };
    expect(decodeClipboardMessage(JSON.stringify(ok))).not.toBeNull();
    expect(decodeClipboardMessage(JSON.stringify({ ...ok, size: MAX_CLIPBOARD_IMAGE_BYTES + 1 }))).toBeNull();
    expect(decodeClipboardMessage(JSON.stringify({ ...ok, data: toBase64(bytes(CLIPBOARD_IMAGE_PIECE_BYTES + 3)) }))).toBeNull();
    expect(decodeClipboardMessage(JSON.stringify({ ...ok, data: 'not base64!' }))).toBeNull();
    expect(decodeClipboardMessage(JSON.stringify({ ...ok, type: 'image/svg+xml' }))).toBeNull();
    expect(decodeClipboardMessage(JSON.stringify({ t: 'terms', images: 'yes' }))).toBeNull();
  });
});

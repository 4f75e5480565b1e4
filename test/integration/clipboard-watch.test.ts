/**
 * ClipboardWatch (main/clipboard/watch.ts) against the real X clipboard of a private Xvfb, through
 * the real xclip port: what the end user copies reaches the analyst only while a grant lets it
 * leave, what was on the clipboard before the grant stays here, nothing is read after the grant
 * went, text over the bound is refused, and the analyst's own text written here is not sent back.
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_CLIPBOARD_CHARS, MAX_CLIPBOARD_IMAGE_BYTES, type ClipboardContent, type ClipboardSyncType } from '../../common/clipboard/protocol.js';
import { ClipboardWatch, type ClipboardChange } from '../../main/clipboard/watch.js';
import { XclipClipboard } from '../../main/clipboard/xclip.js';
import { missingDisplayTools, startXvfb, type Xvfb } from '../../kit/xvfb.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { noisePng as png } from '../helpers/png.js';

const SUITE = 'ClipboardWatch on the X clipboard (xclip)';
const hasXclip = (process.env.PATH ?? '').split(path.delimiter).some((d) => fs.existsSync(path.join(d, 'xclip')));
const skip = skipWithout(SUITE, [...missingDisplayTools(), ...(hasXclip ? [] : ['xclip (apt-get install xclip)'])]);

const POLL_MS = 40;
type Way = 'to_end_user' | 'from_end_user';

/** What another program on the end user's screen does: copy, with xclip, as a person's Ctrl+C would. */
function xCopy(display: string, data: string | Buffer, target?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('xclip', ['-selection', 'clipboard', ...(target ? ['-t', target] : []), '-i'], { env: { ...process.env, DISPLAY: display }, stdio: ['pipe', 'ignore', 'ignore'] });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`xclip exited with ${code}`))));
    p.stdin.end(data);
  });
}

function xPaste(display: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('xclip', ['-selection', 'clipboard', '-o'], { env: { ...process.env, DISPLAY: display }, encoding: 'utf8', timeout: 2000 }, (err, out) => resolve(err ? '' : out));
  });
}

/** What a program pasting a picture gets: the clipboard's image/png, as another X client asks for it. */
function xPastePng(display: string): Promise<Buffer | null> {
  return new Promise((resolve) => {
    execFile('xclip', ['-selection', 'clipboard', '-t', 'image/png', '-o'], { env: { ...process.env, DISPLAY: display }, encoding: 'buffer', timeout: 2000 }, (err, out) => resolve(err ? null : out));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe.skipIf(skip)(SUITE, () => {
  let x: Xvfb;
  /** Reads of the clipboard that completed. */
  let reads: number;
  let generation = 0;
  let grant: Record<Way, boolean>;
  /** Set: the next read that completes waits on it (a read still under way while something else happens). */
  let hold: ((c: ClipboardContent) => Promise<void>) | null;
  let changes: ClipboardChange[];
  let synced: { way: Way; length: number; type?: ClipboardSyncType }[];
  /** Whether the session may share pictures (its offer and the machine policy), and the image reads made. */
  let images: boolean;
  let imageReads: number;
  let watch: ClipboardWatch;
  const watches: ClipboardWatch[] = [];
  const S = 'session-1';

  beforeAll(async () => {
    x = await startXvfb({ width: 320, height: 240 });
  });
  afterAll(async () => {
    await x?.stop();
  });

  afterEach(() => {
    for (const w of watches.splice(0)) for (const sid of [S, 'other-session']) w.stop(sid);
  });

  beforeEach(async () => {
    const real = new XclipClipboard(x.display);
    // A read the previous test's watch still had under way (xclip is slow on a loaded machine)
    // must not count here: only this test's watch counts.
    const mine = ++generation;
    reads = 0;
    imageReads = 0;
    images = false;
    hold = null;
    grant = { to_end_user: false, from_end_user: false };
    changes = [];
    synced = [];
    watch = new ClipboardWatch({
      // The real port; only its reads are counted, to tell when the clipboard is looked at.
      port: {
        read: async (o): Promise<ClipboardContent> => {
          const c = await real.read(o);
          if (mine !== generation) return c;
          if (c.kind === 'image' && c.bytes !== null) imageReads++;
          if (hold) await hold(c);
          reads++;
          return c;
        },
        writeText: (t) => real.writeText(t),
        writeImage: (t, b) => real.writeImage(t, b),
      },
      allows: (sid, way) => sid === S && grant[way],
      images: (sid) => sid === S && images,
      onChange: (_sid, c) => changes.push(c),
      onSynced: (_sid, way, length, type) => synced.push({ way, length, ...(type === 'text' ? {} : { type }) }),
      pollMs: POLL_MS,
    });
    watches.push(watch);
    await xCopy(x.display, `already here ${Date.now()}`);
  });

  it('reads nothing before the grant, and sends only what is copied after it', async () => {
    watch.start(S);
    await sleep(POLL_MS * 4);
    expect(watch.watching(S)).toBe(false);
    expect(reads).toBe(0);

    grant.from_end_user = true;
    watch.start(S);
    await until('the first look at the clipboard', () => reads >= 2);
    // What was there when the grant came stays on this computer.
    expect(changes).toEqual([]);

    await xCopy(x.display, 'copied after the grant');
    await until('the copied text', () => changes.length === 1);
    expect(changes).toEqual([{ text: 'copied after the grant' }]);
    expect(synced).toEqual([{ way: 'from_end_user', length: 'copied after the grant'.length }]);

    // The same text copied again is no change.
    await xCopy(x.display, 'copied after the grant');
    const r = reads;
    await until('more looks', () => reads >= r + 3);
    expect(changes).toHaveLength(1);
    watch.stop(S);
  });

  it('stops reading once the grant went, and sends nothing copied after', async () => {
    grant.from_end_user = true;
    watch.start(S);
    await until('the first look', () => reads >= 1);
    await xCopy(x.display, 'while granted');
    await until('the text while granted', () => changes.length === 1);

    grant.from_end_user = false;
    // The next tick sees the grant gone and stops on its own.
    await until('the watch to stop', () => !watch.watching(S));
    const after = reads;
    await xCopy(x.display, 'after the grant went');
    await sleep(POLL_MS * 6);
    expect(reads).toBe(after);
    expect(changes).toEqual([{ text: 'while granted' }]);

    // Granted again: what was copied meanwhile is the new start, not sent.
    grant.from_end_user = true;
    watch.start(S);
    await until('looks again', () => reads >= after + 2);
    expect(changes).toHaveLength(1);
    watch.stop(S);
    expect(watch.watching(S)).toBe(false);
  });

  it('refuses text over the bound and a picture, without their length on the record', async () => {
    grant.from_end_user = true;
    watch.start(S);
    await until('the first look', () => reads >= 1);
    await xCopy(x.display, 'y'.repeat(MAX_CLIPBOARD_CHARS + 1));
    await until('the refusal', () => changes.length === 1);
    expect(changes[0]).toEqual({ refused: 'too_large' });

    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');
    await xCopy(x.display, png, 'image/png');
    await until('the picture refused', () => changes.length === 2);
    expect(changes[1]).toEqual({ refused: 'not_text' });

    // Exactly at the bound still goes.
    await xCopy(x.display, 'z'.repeat(MAX_CLIPBOARD_CHARS));
    await until('the text at the bound', () => changes.length === 3);
    expect(changes[2]).toEqual({ text: 'z'.repeat(MAX_CLIPBOARD_CHARS) });
    expect(synced).toEqual([{ way: 'from_end_user', length: MAX_CLIPBOARD_CHARS }]);
    watch.stop(S);
  });

  it("writes the analyst's text only while granted that way, and does not send it back", async () => {
    const before = await xPaste(x.display);
    expect(await watch.write(S, 'from the analyst')).toEqual({ ok: false, reason: 'not_granted' });
    expect(await xPaste(x.display)).toBe(before);

    grant.to_end_user = true;
    grant.from_end_user = true;
    watch.start(S);
    await until('the first look', () => reads >= 1);
    expect(await watch.write(S, 'x'.repeat(MAX_CLIPBOARD_CHARS + 1))).toEqual({ ok: false, reason: 'too_large' });
    expect(await xPaste(x.display)).toBe(before);

    expect(await watch.write(S, 'from the analyst')).toEqual({ ok: true });
    expect(await xPaste(x.display)).toBe('from the analyst');
    const r = reads;
    await until('more looks', () => reads >= r + 4);
    // Its own write is not a change of the end user's.
    expect(changes).toEqual([]);
    expect(synced).toEqual([{ way: 'to_end_user', length: 'from the analyst'.length }]);

    // The end user then copies something: that goes.
    await xCopy(x.display, 'the end user replies');
    await until('the reply', () => changes.length === 1);
    expect(changes).toEqual([{ text: 'the end user replies' }]);
    watch.stop(S);
  });

  it("does not send the analyst's text back when a read was under way across its write", async () => {
    grant.to_end_user = true;
    grant.from_end_user = true;
    watch.start(S);
    await until('the first look', () => reads >= 1);
    let held: ClipboardContent | null = null;
    let release!: () => void;
    hold = (c) => {
      hold = null;
      held = c;
      return new Promise<void>((r) => (release = r));
    };
    await until('a read under way', () => held !== null);
    expect(await watch.write(S, 'written while a read ran')).toEqual({ ok: true });
    release();
    const r = reads;
    await until('more looks', () => reads >= r + 4);
    expect(changes).toEqual([]);
    watch.stop(S);
  });

  it('a session whose grant is not live is not watched, whatever another session has', async () => {
    grant.from_end_user = true;
    watch.start('other-session');
    await sleep(POLL_MS * 4);
    expect(watch.watching('other-session')).toBe(false);
    expect(reads).toBe(0);
  });

  it('a picture copied where the session allows pictures reaches the other side whole, and one from the analyst lands on the X clipboard', async () => {
    images = true;
    grant.from_end_user = true;
    grant.to_end_user = true;
    watch.start(S);
    await until('the first look', () => reads >= 1);
    // Bigger than one piece on the channel and the bridge, well under the bound.
    const pic = png(160, 120);
    expect(pic.length).toBeGreaterThan(32 * 1024);
    await xCopy(x.display, pic, 'image/png');
    await until('the picture', () => changes.length === 1, 5000);
    const got = changes[0] as { image: { type: string; bytes: Uint8Array } };
    expect(got.image.type).toBe('image/png');
    expect(Buffer.from(got.image.bytes).equals(pic)).toBe(true);
    // On the record: way, type and length, never the bytes.
    expect(synced).toEqual([{ way: 'from_end_user', length: pic.length, type: 'image/png' }]);

    // The analyst's picture: on the X clipboard as image/png for any program that pastes, and not sent back.
    const theirs = png(40, 30);
    expect(await watch.writeImage(S, 'image/png', theirs)).toEqual({ ok: true });
    const pasted = await xPastePng(x.display);
    expect(pasted && pasted.equals(theirs)).toBe(true);
    const r = reads;
    await until('more looks', () => reads >= r + 4);
    expect(changes).toHaveLength(1);
    expect(synced[1]).toEqual({ way: 'to_end_user', length: theirs.length, type: 'image/png' });

    // Over the bound: refused unsent, and the bound is what the size is checked against.
    expect(await watch.writeImage(S, 'image/png', new Uint8Array(MAX_CLIPBOARD_IMAGE_BYTES + 1))).toEqual({ ok: false, reason: 'image_too_large' });
    const huge = png(620, 600);
    expect(huge.length).toBeGreaterThan(MAX_CLIPBOARD_IMAGE_BYTES);
    await xCopy(x.display, huge, 'image/png');
    await until('the large picture refused', () => changes.length === 2, 5000);
    expect(changes[1]).toEqual({ refused: 'image_too_large' });
    expect(synced).toHaveLength(2);
    watch.stop(S);
  });

  it('where the session keeps to text, a picture is neither read nor sent, and none from the analyst is written', async () => {
    grant.from_end_user = true;
    grant.to_end_user = true;
    watch.start(S);
    await until('the first look', () => reads >= 1);
    await xCopy(x.display, png(50, 50), 'image/png');
    await until('the picture refused', () => changes.length === 1);
    expect(changes[0]).toEqual({ refused: 'not_text' });
    expect(imageReads).toBe(0);
    const before = await xPastePng(x.display);
    expect(await watch.writeImage(S, 'image/png', png(10, 10))).toEqual({ ok: false, reason: 'images_not_allowed' });
    expect((await xPastePng(x.display))?.equals(before!)).toBe(true);
    expect(synced).toEqual([]);
    watch.stop(S);
  });
});

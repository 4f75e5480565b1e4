/**
 * Files coming to the end user's computer land only inside the receiving folder, whatever the
 * sender calls them; nothing is written before Accept; a file moves to its name only when size and
 * SHA-256 match, never over another; every other end deletes the partial file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileReceiver } from '../../main/files/receiver.js';
import { safeFileName } from '../../common/files/safe-name.js';

const SID = 's1';
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function setup(allowed = () => true, maxBytes?: number) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'recv-'));
  dirs.push(root);
  const folder = path.join(root, 'Downloads');
  return { root, folder, r: new FileReceiver({ folder, allowed, maxBytes }) };
}

function receive(r: FileReceiver, id: string, name: string, data: Buffer, claimed = sha(data)) {
  const o = r.offer({ sessionId: SID, id, name, size: data.length, sha256: claimed });
  if (!o.ok) return o;
  expect(r.accept(SID, id)).toEqual({ ok: true });
  expect(r.write(SID, id, 0, data)).toEqual({ ok: true, written: data.length });
  return r.finish(SID, id);
}

describe('receiving files', () => {
  it('hostile names land inside the folder under a harmless name', () => {
    expect(safeFileName('../../etc/passwd')).toBe('passwd');
    expect(safeFileName('C:\\x')).toBe('x');
    expect(safeFileName('con.txt')).toBe('_con.txt');
    expect(safeFileName('LPT1')).toBe('_LPT1');
    expect(safeFileName('invoice\u202Efdp.exe')).toBe('invoicefdp.exe');
    expect(safeFileName('a\u0000b\nc.txt')).toBe('abc.txt');
    expect(safeFileName('/')).toBe('received-file');
    expect(safeFileName('..')).toBe('received-file');
    expect(safeFileName('report. ')).toBe('report');
    expect(safeFileName(`${'x'.repeat(400)}.pdf`)).toMatch(/^x{176}\.pdf$/);
    const { root, folder, r } = setup();
    for (const [i, name] of ['../../etc/passwd', 'C:\\x', 'con.txt', 'evil\u202Etxt.exe', '/etc/shadow'].entries()) {
      const res = receive(r, `t${i}`, name, Buffer.from(`file ${i}`));
      expect(res.ok).toBe(true);
    }
    expect(fs.readdirSync(folder).sort()).toEqual(['_con.txt', 'eviltxt.exe', 'passwd', 'shadow', 'x']);
    // Nothing anywhere else: the folder is the only thing in its parent.
    expect(fs.readdirSync(root)).toEqual(['Downloads']);
  });

  it('never overwrites: the same name again gets a number', () => {
    const { folder, r } = setup();
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'mine');
    expect(receive(r, 'a', 'notes.txt', Buffer.from('theirs 1'))).toMatchObject({ ok: true, savedAs: 'notes (1).txt' });
    expect(receive(r, 'b', 'notes.txt', Buffer.from('theirs 2'))).toMatchObject({ ok: true, savedAs: 'notes (2).txt' });
    expect(fs.readFileSync(path.join(folder, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('nothing is written before Accept, nor after a refusal; a wrong hash or size leaves nothing', () => {
    const { folder, r } = setup();
    const data = crypto.randomBytes(100_000);
    expect(r.offer({ sessionId: SID, id: 'x', name: 'a.bin', size: data.length, sha256: sha(data) })).toMatchObject({ ok: true, saveAs: 'a.bin' });
    expect(fs.existsSync(folder)).toBe(false);
    r.refuse(SID, 'x');
    expect(r.write(SID, 'x', 0, data)).toEqual({ ok: false, reason: 'unknown_transfer' });
    expect(receive(r, 'y', 'a.bin', data, sha(Buffer.from('other')))).toEqual({ ok: false, reason: 'hash_mismatch' });
    expect(fs.readdirSync(folder)).toEqual([]);
    // Bytes beyond the offered size, or out of order, end it.
    r.offer({ sessionId: SID, id: 'z', name: 'a.bin', size: 10, sha256: sha(data) });
    r.accept(SID, 'z');
    expect(r.write(SID, 'z', 0, data)).toEqual({ ok: false, reason: 'out_of_order' });
    expect(fs.readdirSync(folder)).toEqual([]);
  });

  it('cancel, revoke and the size limit: the partial file goes at once', () => {
    let granted = true;
    const { folder, r } = setup(() => granted, 1000);
    expect(r.offer({ sessionId: SID, id: 'big', name: 'big.iso', size: 1001, sha256: '0'.repeat(64) })).toEqual({ ok: false, reason: 'too_large' });
    const data = crypto.randomBytes(600);
    r.offer({ sessionId: SID, id: 'c', name: 'c.bin', size: 600, sha256: sha(data) });
    r.accept(SID, 'c');
    r.write(SID, 'c', 0, data.subarray(0, 300));
    expect(fs.readdirSync(folder)).toHaveLength(1);
    expect(r.cancel(SID, 'c')).toBe(true);
    expect(fs.readdirSync(folder)).toEqual([]);
    r.offer({ sessionId: SID, id: 'd', name: 'd.bin', size: 600, sha256: sha(data) });
    r.accept(SID, 'd');
    r.write(SID, 'd', 0, data.subarray(0, 300));
    granted = false;
    expect(r.write(SID, 'd', 300, data.subarray(300))).toEqual({ ok: false, reason: 'not_granted' });
    expect(fs.readdirSync(folder)).toEqual([]);
    granted = true;
    r.offer({ sessionId: SID, id: 'e', name: 'e.bin', size: 600, sha256: sha(data) });
    r.accept(SID, 'e');
    r.write(SID, 'e', 0, data.subarray(0, 300));
    expect(r.cancelAll(SID)).toBe(1);
    expect(fs.readdirSync(folder)).toEqual([]);
  });
});

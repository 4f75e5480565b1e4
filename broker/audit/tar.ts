/**
 * The evidence bundle is a plain POSIX tar (ustar): any `tar -xf` opens it, and this reader and
 * writer need no package. Only regular files, names up to 100 characters, sizes under 8 GiB.
 */
const BLOCK = 512;

function header(name: string, size: number, mtimeS: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long: ${name}`);
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 100, 'utf8');
  h.write('0000600\0', 100, 8, 'ascii');
  h.write('0000000\0', 108, 8, 'ascii');
  h.write('0000000\0', 116, 8, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 12, 'ascii');
  h.write(Math.floor(mtimeS).toString(8).padStart(11, '0') + '\0', 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

export function writeTar(files: readonly { name: string; bytes: Buffer }[], mtimeMs: number): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(header(f.name, f.bytes.length, mtimeMs / 1000), f.bytes);
    const pad = (BLOCK - (f.bytes.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}

/**
 * The files of a tar, in order; throws on a header whose checksum or size is wrong. `copy: false`
 * hands out views into `tar` (the verifier reads and never writes, and copying was a third of its time).
 */
export function readTar(tar: Buffer, o: { copy?: boolean } = {}): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  let off = 0;
  while (off + BLOCK <= tar.length) {
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (parseInt(h.subarray(148, 156).toString('ascii').replace(/\0.*$/, '').trim(), 8) !== sum) throw new Error(`tar: bad header checksum at byte ${off}`);
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/, '').trim(), 8);
    if (!Number.isSafeInteger(size) || size < 0 || off + BLOCK + size > tar.length) throw new Error(`tar: bad size for ${name}`);
    const type = String.fromCharCode(h[156] ?? 48);
    if (type === '0' || type === '\0') out.push({ name, bytes: o.copy === false ? tar.subarray(off + BLOCK, off + BLOCK + size) : Buffer.from(tar.subarray(off + BLOCK, off + BLOCK + size)) });
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}

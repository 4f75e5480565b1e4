import crypto from 'node:crypto';
import zlib from 'node:zlib';

/** A real PNG of one colour (RGB, 8 bits), for a branding logo in tests. */
export function solidPng(width: number, height: number, rgb: [number, number, number]): Buffer {
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3).map((_, i) => rgb[i % 3]!)]);
  return png(width, height, Buffer.concat(Array.from({ length: height }, () => row)));
}

/** A PNG of RGBA pixels (alpha dropped), for a screenshot of the X screen itself (a native dialog no page can capture). */
export function rgbaPng(width: number, height: number, rgba: Uint8ClampedArray): Buffer {
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const o = y * (1 + width * 3);
    for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) raw[o + 1 + x * 3 + c] = rgba[(y * width + x) * 4 + c]!;
  }
  return png(width, height, raw);
}

/** `level`: zlib's compression level (0 stores the rows as they are). */
function png(width: number, height: number, raw: Buffer, level?: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, level === undefined ? {} : { level })), chunk('IEND', Buffer.alloc(0))]);
}

/** A real PNG of w x h pixels of random colours (no two alike, and hardly compressible: its size is about w*h*3). */
export function noisePng(w: number, h: number): Buffer {
  const raw = Buffer.concat(Array.from({ length: h }, () => Buffer.concat([Buffer.from([0]), crypto.randomBytes(w * 3)])));
  return png(w, h, raw, 0);
}

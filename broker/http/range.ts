/**
 * The one form of HTTP Range a media player sends: a single byte range. Anything else (several
 * ranges, other units) is answered with the whole file, which RFC 9110 allows. `bytes=a-b`,
 * `bytes=a-`, `bytes=-n` over a file of `size` bytes; null for no or another kind of range.
 */
export function parseRange(header: unknown, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (typeof header !== 'string') return null;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start > end || start >= size ? 'unsatisfiable' : { start, end };
}


/**
 * The name a received file gets on disk, from the name the sender chose (untrusted): only its
 * last path part (so `../../etc/passwd` and `C:\x` cannot leave the folder), no control or
 * direction-changing characters (U+202E makes `exe.txt` read as `txt.exe`), none of the characters
 * Windows forbids, no trailing dots or spaces, and never a reserved device name (`con.txt`,
 * `LPT1`), which Windows would open as a device. Always a non-empty name of at most 180 UTF-16
 * units, with its extension kept when it can be.
 */
// eslint-disable-next-line no-control-regex -- removing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/** Bidirectional controls and invisible marks that can make a name read differently from what it is. */
const BIDI = /[\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
const FORBIDDEN = /[<>:"|?*]/g;
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/i;
export const MAX_NAME_CHARS = 180;

export function safeFileName(raw: string): string {
  const last = raw.split(/[/\\]/).pop() ?? '';
  let name = last.normalize('NFC').replace(CONTROL, '').replace(BIDI, '').replace(FORBIDDEN, '_').trim();
  name = name.replace(/[. ]+$/, '').replace(/^\.+/, '');
  if (name === '') name = 'received-file';
  const stem = name.split('.')[0]!.trim();
  if (RESERVED.test(stem)) name = `_${name}`;
  if (name.length > MAX_NAME_CHARS) {
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
    name = name.slice(0, MAX_NAME_CHARS - ext.length) + ext;
  }
  return name;
}

/** `report.pdf`, then `report (1).pdf`, `report (2).pdf`...: a name that never overwrites. */
export function numberedName(name: string, n: number): string {
  if (n === 0) return name;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}

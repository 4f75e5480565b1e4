import { JOIN_CODE_ALPHABET, JOIN_CODE_LENGTH } from '../common/join-code.js';

/**
 * `chaperone://join/CODE` links as the operating system hands them to the app (command line on
 * Windows and Linux, `open-url` on macOS). Whatever a web page or a mail puts in such a link ends
 * up in our argv, so this parser accepts one exact shape and nothing near it: the scheme, the host
 * `join`, the code (ten characters of the join-code alphabet, optionally split 5-5 by one dash, any
 * case) and at most a trailing slash, which Windows adds. No query, no fragment, no percent-encoding,
 * no other host or path, no whitespace, nothing longer than a link can be. Confusable letters are
 * not mapped either: links are made by the broker, not typed by a person.
 */
export const JOIN_LINK_SCHEME = 'chaperone';
const MAX_LINK_CHARS = 64;
const HALF = JOIN_CODE_LENGTH / 2;
const CHAR = `[${JOIN_CODE_ALPHABET}${JOIN_CODE_ALPHABET.toLowerCase()}]`;
const LINK = new RegExp(`^${JOIN_LINK_SCHEME}://join/(${CHAR}{${HALF}})-?(${CHAR}{${HALF}})/?$`, 'i');

/** The canonical join code of a link, or null for anything that is not exactly a join link. */
export function parseJoinLink(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_LINK_CHARS) return null;
  const m = LINK.exec(input);
  if (!m) return null;
  return `${m[1]}${m[2]}`.toUpperCase();
}

/**
 * The join code carried by a command line, or null. The app registers itself as
 * `<exe> [app] -- "%1"`, so Chromium stops reading switches at `--` and the link can never become
 * one. Even so: every argument that mentions our scheme is a candidate, and unless there is exactly
 * one and it is exactly a join link, the whole command line is ignored. A link glued to a switch
 * (`--x=chaperone://...`) or two links at once is an attack or a mistake, never a request to join.
 */
export function joinCodeFromArgv(argv: readonly unknown[]): string | null {
  const candidates = argv.filter((a) => typeof a === 'string' && a.toLowerCase().includes(`${JOIN_LINK_SCHEME}:`));
  if (candidates.length !== 1) return null;
  const dashes = argv.indexOf('--');
  // When the terminator is there (our own registration), the link must come after it.
  if (dashes !== -1 && argv.indexOf(candidates[0]) < dashes) return null;
  return parseJoinLink(candidates[0]);
}

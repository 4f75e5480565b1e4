import { z } from 'zod';
import { safeText } from './protocol/text.js';

/**
 * The organisation's own name, logo and help-desk line on the end user's screens, instead of
 * "Chaperone". Set in broker.json (`branding`); the broker checks the logo when it starts.
 *
 * How it is trusted: the app only ever talks to the broker its configuration (or the machine
 * policy) pins, so the code-entry screen reads the branding from that broker alone
 * (GET /api/v1/branding). From the consent screen on, what is shown comes from the broker-signed
 * offer, bound to this device: its name and help line, and the logo's SHA-256, which the app
 * checks against the bytes it fetched before it shows the picture. A page, a link or a message
 * cannot put another name or logo on those screens.
 */

/** Small: a logo is a mark beside a name, and it travels to every end user before they join. */
export const BRANDING_LOGO_MAX_BYTES = 64 * 1024;
export const BRANDING_NAME_MAX = 60;
export const BRANDING_HELP_LINE_MAX = 200;

/** Raster images only: an SVG can carry script and external references. */
export const LOGO_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;
export type LogoType = (typeof LOGO_TYPES)[number];

export const SHA256_HEX_RE = /^[0-9a-f]{64}$/;

/** broker.json `branding`: every field optional; the logo is a file path (relative to the data dir, or absolute). */
export const BrandingFileSchema = z
  .object({
    name: safeText(BRANDING_NAME_MAX).optional(),
    logo: z.string().min(1).max(500).optional(),
    help_line: safeText(BRANDING_HELP_LINE_MAX).optional(),
  })
  .strict();

/** What the broker publishes and signs into each offer. */
export const BrandingViewSchema = z
  .object({
    name: z.string().min(1).max(BRANDING_NAME_MAX),
    help_line: z.string().max(BRANDING_HELP_LINE_MAX).nullable(),
    /** The logo's SHA-256 (hex); the bytes are at GET /api/v1/branding/logo. Null: no logo. */
    logo_sha256: z.string().regex(SHA256_HEX_RE).nullable(),
  })
  .strict();
export type BrandingView = z.infer<typeof BrandingViewSchema>;

/** The image type from the file's first bytes (never from its name), or null for anything else. */
export function logoTypeOf(b: Uint8Array): LogoType | null {
  const at = (i: number, ...xs: number[]) => xs.every((x, j) => b[i + j] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return null;
}

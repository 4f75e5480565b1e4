import { BrandingViewSchema, LOGO_TYPES } from '../../../common/branding.js';
import { endUserBroker } from '../services.js';
import { useAppStore, type ShownBranding } from '../store.js';

/**
 * The organisation's name, help line and logo for the end user's screens, from the broker this
 * app is pinned to (common/branding.ts says how it is trusted). The logo is shown only when the
 * bytes fetched hash to the SHA-256 the broker named; the consent screen compares that again with
 * the hash inside the signed offer.
 */

let loading: Promise<void> | null = null;

export function loadBranding(): Promise<void> {
  loading ??= load().catch(() => {
    // Without it the screens speak of "your IT team": nothing depends on a name.
    loading = null;
  });
  return loading;
}

async function load(): Promise<void> {
  const b = await endUserBroker().get('/api/v1/branding', BrandingViewSchema);
  let logoUrl: string | null = null;
  if (b.logo_sha256) {
    const blob = await endUserBroker().bytes('/api/v1/branding/logo');
    const type = LOGO_TYPES.find((t) => t === blob.type);
    const bytes = await blob.arrayBuffer();
    if (type && (await sha256Hex(bytes)) === b.logo_sha256) logoUrl = URL.createObjectURL(new Blob([bytes], { type }));
  }
  const shown: ShownBranding = { name: b.name, helpLine: b.help_line, logoSha256: logoUrl ? b.logo_sha256 : null, logoUrl };
  useAppStore.getState().setBranding(shown);
}

async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((x) => x.toString(16).padStart(2, '0')).join('');
}

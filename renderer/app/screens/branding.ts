import type { ReactNode } from 'react';
import { useAppStore } from '../store.js';
import { h } from './ui.js';

/**
 * The organisation's name (and logo) above the end user's screens, and its help-desk line. Once
 * an offer is on screen, the signed offer's branding decides: its name and line, and the logo
 * only if the fetched picture is the one whose hash the broker signed.
 */
function useShown(): { name: string; helpLine: string | null; logoUrl: string | null } | null {
  const fetched = useAppStore((s) => s.branding);
  const signed = useAppStore((s) => s.join.offerView?.branding);
  if (signed) {
    const logoUrl = fetched?.logoUrl && signed.logo_sha256 !== null && fetched.logoSha256 === signed.logo_sha256 ? fetched.logoUrl : null;
    return { name: signed.name, helpLine: signed.help_line, logoUrl };
  }
  return fetched ? { name: fetched.name, helpLine: fetched.helpLine, logoUrl: fetched.logoUrl } : null;
}

export function BrandMark(): ReactNode {
  const b = useShown();
  if (!b) return null;
  return h(
    'div',
    { className: 'brand', 'data-testid': 'brand' },
    // The name beside it says who this is; the picture adds nothing a screen reader needs.
    b.logoUrl ? h('img', { src: b.logoUrl, alt: '', className: 'brand-logo', 'data-testid': 'brand-logo' }) : null,
    h('span', { className: 'brand-name', 'data-testid': 'brand-name' }, h('bdi', null, b.name)),
  );
}

export function HelpLine(): ReactNode {
  const b = useShown();
  if (!b?.helpLine) return null;
  return h('p', { className: 'small help-line', 'data-testid': 'help-line' }, h('bdi', null, b.helpLine));
}

/** The organisation's name for sentences and the window's title; null when the broker named none. */
export function useBrandName(): string | null {
  return useShown()?.name ?? null;
}

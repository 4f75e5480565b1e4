import type { BrandingView } from '../common/branding.js';
import type { BrokerConfig } from './config.js';

/** What end users see as the organisation: broker.json's branding, the policy's organisation otherwise. */
export function brandingView(cfg: Pick<BrokerConfig, 'branding' | 'policy'>): BrandingView {
  return { name: cfg.branding.name ?? cfg.policy.organisation, help_line: cfg.branding.helpLine ?? null, logo_sha256: cfg.branding.logo?.sha256 ?? null };
}

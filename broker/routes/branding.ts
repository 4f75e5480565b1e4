import { z } from 'zod';
import { BrandingViewSchema } from '../../common/branding.js';
import { brandingView } from '../branding.js';
import type { BrokerContext } from '../context.js';
import { ApiError } from '../http/errors.js';
import type { RouteRegistry } from '../http/registry.js';

const Image = z.custom<Buffer>((b) => Buffer.isBuffer(b), 'image/png, image/jpeg or image/webp bytes');

export function brandingRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'GET',
    url: '/api/v1/branding',
    summary:
      "The organisation's name, help-desk line and logo hash for the end user's code-entry screen (broker.json `branding`; the name is policy.organisation without it). From the consent screen on the app shows the same fields from the signed offer instead",
    tag: 'end user',
    auth: 'none',
    response: BrandingViewSchema,
    responses: { 200: '{ name, help_line, logo_sha256 }' },
    handler: async ({ reply }) => {
      reply.header('cache-control', 'no-cache');
      return brandingView(ctx.cfg);
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/branding/logo',
    summary: 'The branding logo (PNG, JPEG or WebP, at most 64 KiB, checked when the broker starts); its SHA-256 is in GET /api/v1/branding and in every offer',
    tag: 'end user',
    auth: 'none',
    response: Image,
    responses: { 200: 'the image', 404: 'no logo is configured (no_logo)' },
    handler: async ({ reply }) => {
      const logo = ctx.cfg.branding.logo;
      if (!logo) throw new ApiError(404, 'no_logo', 'this broker has no branding logo');
      reply.header('content-type', logo.type);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('content-security-policy', "default-src 'none'");
      reply.header('cache-control', 'max-age=300');
      return logo.bytes;
    },
  });
}

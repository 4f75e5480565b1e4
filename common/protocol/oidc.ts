import { z } from 'zod';

/**
 * Single sign-on through the organisation's identity provider (broker/auth/oidc.ts). The page or
 * the desktop app starts with its device key's proof; the provider's answer (code, state) is
 * worth nothing without that same key, since only it can finish.
 */
const Url = z.string().min(1).max(1000);
const Opaque = z.string().min(16).max(512).regex(/^[A-Za-z0-9._~-]+$/);

/** Either where the browser lands after the provider (the console's own address), or the desktop app's loopback redirect. */
export const OidcStartBody = z
  .object({
    return_to: Url.optional(),
    /** RFC 8252: http://127.0.0.1:{port}/sso/callback, a listener of the desktop app's main process. */
    loopback_redirect_uri: Url.optional(),
  })
  .strict()
  .refine((b) => (b.return_to === undefined) !== (b.loopback_redirect_uri === undefined), 'give return_to or loopback_redirect_uri, one of them');

export const OidcStartedSchema = z.object({
  authorization_url: z.string().max(4000),
  state: z.string().max(512),
  expires_in: z.number().int().positive(),
});

/** What the provider sent back (the callback's query, carried by the page or the desktop app). */
export const OidcFinishBody = z
  .object({
    state: Opaque,
    code: z.string().min(1).max(2048).regex(/^[\x21-\x7e]+$/),
    iss: Url.optional(),
  })
  .strict();

/** The provider's redirect to the broker: a code, or an error the provider explains. */
export const OidcCallbackQuery = z
  .object({
    state: z.string().max(512).optional(),
    code: z.string().max(2048).optional(),
    iss: Url.optional(),
    error: z.string().max(200).optional(),
    error_description: z.string().max(1000).optional(),
    session_state: z.string().max(512).optional(),
  })
  .strict();

export const OidcCallbackSchema = z.string().max(0).describe('a redirect (302) to return_to with the answer in the fragment');

export const OidcConfigSchema = z.object({ enabled: z.boolean(), issuer: z.string().max(300).nullable() });
export type OidcStarted = z.infer<typeof OidcStartedSchema>;

import { z } from 'zod';
import { PASSWORD_MAX_CHARS } from '../password-rules.js';
import { MAX_TOKEN_CHARS } from './limits.js';
import { safeText as text } from './text.js';

/**
 * A first sign-in in the app: the one-time password opens a short-lived setup (begin), the
 * account's own password and its first authenticator code close it (finish), which signs in.
 */
export const FirstSignInBody = z
  .object({
    username: text(64),
    password: z.string().min(1).max(256),
  })
  .strict();

export const FirstSignInFinishBody = z
  .object({
    setup_token: z.string().min(1).max(MAX_TOKEN_CHARS),
    // The rules themselves are checked by the broker so the answer can name the broken one.
    new_password: z.string().min(1).max(PASSWORD_MAX_CHARS),
    totp: z.string().regex(/^\d{6}$/).optional(),
  })
  .strict();

export const FirstSignInStartedSchema = z.object({
  setup_token: z.string().min(1).max(4 * MAX_TOKEN_CHARS),
  expires_in: z.number().int().positive(),
  display_name: z.string().max(256),
  /** Whether finishing needs an authenticator code. */
  totp_required: z.boolean(),
  /** Present when the authenticator app is enrolled now: the QR code's URI and the secret as text. */
  totp_enrolment: z.object({ secret: z.string().min(16).max(128), otpauth_uri: z.string().max(1024) }).nullable(),
  password_rules: z.array(z.object({ id: z.string().max(32), text: z.string().max(200) })).max(16),
});
export type FirstSignInStarted = z.infer<typeof FirstSignInStartedSchema>;

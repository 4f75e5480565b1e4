import { z } from 'zod';
import { safeText } from './text.js';

/**
 * Passkeys (WebAuthn) as a second factor: what the app sends and receives. The browser's
 * credential JSON is parsed here with bounds before @simplewebauthn/server reads a byte of it;
 * fields a browser adds that the broker does not read are dropped.
 */
const b64url = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+$/, 'base64url');

/** The name a person gives a passkey ("Work laptop"), shown in their list and in the audit. */
export const PasskeyName = safeText(64);

/** Credential ids are at most 1023 bytes (WebAuthn L3), so 1364 base64url characters. */
export const CREDENTIAL_ID_CHARS = 1366;

const Transports = z.array(z.enum(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'])).max(8);

const ClientExtensionResults = z.object({}).passthrough().refine((o) => JSON.stringify(o).length <= 2048, 'extension results too large');

export const RegistrationCredential = z.object({
  id: b64url(CREDENTIAL_ID_CHARS),
  rawId: b64url(CREDENTIAL_ID_CHARS),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: ClientExtensionResults,
  response: z.object({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(16_384),
    authenticatorData: b64url(8192).optional(),
    transports: Transports.optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url(4096).optional(),
  }),
});

export const AuthenticationCredential = z.object({
  id: b64url(CREDENTIAL_ID_CHARS),
  rawId: b64url(CREDENTIAL_ID_CHARS),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: ClientExtensionResults,
  response: z.object({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(8192),
    signature: b64url(2048),
    userHandle: b64url(256).optional(),
  }),
});

/** A challenge row's id: which stored challenge the answer is for (random, 128 bits). */
const ChallengeId = z.string().regex(/^[A-Za-z0-9_-]{22}$/);

/** A passkey's answer to a stored challenge (step-up, or sign-in in place of a code). */
export const PasskeyAnswer = z.object({ challenge_id: ChallengeId, credential: AuthenticationCredential }).strict();
export const PasskeySignInOptionsBody = z.object({ username: safeText(64), password: z.string().min(1).max(256) }).strict();

export const PasskeyAddBody = z.object({ challenge_id: ChallengeId, name: PasskeyName, credential: RegistrationCredential }).strict();
export const PasskeyAssertionBody = z.object({ challenge_id: ChallengeId, credential: AuthenticationCredential }).strict();
export const PasskeyIdParams = z.object({ id: b64url(CREDENTIAL_ID_CHARS) }).strict();

export const PasskeySchema = z.object({
  id: z.string().max(CREDENTIAL_ID_CHARS),
  name: z.string().max(64),
  created_at: z.number().int().nonnegative(),
  last_used_at: z.number().int().nonnegative().nullable(),
});
export type Passkey = z.infer<typeof PasskeySchema>;
export const PasskeyListSchema = z.object({ passkeys: z.array(PasskeySchema).max(32) });
export const PasskeyRemovedSchema = z.object({ removed: z.literal(true) });

/** Options for navigator.credentials (the JSON form @simplewebauthn/browser takes), with the challenge's id. */
export const PasskeyOptionsSchema = z.object({ challenge_id: ChallengeId, options: z.record(z.string(), z.unknown()) });

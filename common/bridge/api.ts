import { z } from 'zod';
import { BrandingViewSchema } from '../branding.js';
import { CLIPBOARD_REFUSALS, ImagePieceSchema, MAX_CLIPBOARD_CHARS } from '../clipboard/protocol.js';
import { MAX_CHUNK_BYTES, MAX_CHUNKS_PER_SESSION, RECORDING_MODES } from '../recording.js';
import { WatchTermsSchema } from '../watch.js';
import { CAPABILITIES } from '../capabilities.js';
import { ANALYST_KINDS } from '../roles.js';
import { LOCAL_GRANTS } from '../protocol/signaling.js';
import { GRANT_DIRECTIONS } from '../grant-direction.js';
import { MAX_CONTROL_MESSAGE_BYTES } from '../control/protocol.js';
import { MAX_TEXT_CHARS, MAX_TOKEN_CHARS } from '../protocol/limits.js';

/** More watchers than this in one session are not told one by one to the transcript. */
const MAX_PRESENT_WATCHERS = 20;
import { safeText } from '../protocol/text.js';

/**
 * The one definition of what the renderer may ask of the main process. The Electron preload
 * (`preload/index.ts`) and the browser test host (`main/browser-host/`) both build their API from
 * this table, and the main side dispatches every call through `dispatchBridgeCall`, which parses
 * the arguments as untrusted input and the result before it goes back. A method that is not in
 * this table does not exist on either side, so the two cannot drift apart.
 *
 * The device key never leaves the main process: the renderer asks for proofs and receipts, each
 * for a narrow purpose, and gets back a signed string.
 */

const sessionId = z.string().uuid();
const jws = z.string().min(16).max(MAX_TOKEN_CHARS);
const accessToken = z.string().min(1).max(MAX_TOKEN_CHARS);
const shortId = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/);
const epochMs = z.number().int().min(0).max(8.64e15);

export const GrantKindSchema = z.enum(LOCAL_GRANTS);
export type BridgeGrantKind = z.infer<typeof GrantKindSchema>;

export const PolicyViewSchema = z
  .object({
    /** Where the renderer sends broker calls (the pinned broker, or the host's same-origin relay of it). */
    brokerUrl: z.string().url().max(2048),
    organisation: z.string().min(1).max(120).nullable(),
    /** Capabilities this machine never allows, whatever the remote side asks for. */
    deniedCapabilities: z.array(z.enum(CAPABILITIES)).max(5),
    /** Seconds a control request may wait for an answer before it is denied. */
    controlPromptSeconds: z.number().int().min(5).max(300),
    /** True where the panic chord is armed (Ctrl+Alt+Shift+End). */
    panicChord: z.boolean(),
    /**
     * The machine policy an administrator set (common/machine-policy.ts); null on an unmanaged
     * install. While it is `invalid` the app shows `message` instead of joining: no session starts.
     */
    managed: z
      .object({ status: z.enum(['ok', 'invalid']), source: z.string().max(1024), message: z.string().max(2000).nullable() })
      .strict()
      .nullable(),
    /** Whether the analyst screens exist on this machine. */
    analystMode: z.boolean(),
    /** The longest session this machine accepts, in seconds; null when only the broker limits it. */
    maxDurationS: z.number().int().min(60).max(24 * 3600).nullable(),
    /** True where the machine policy keeps the clipboard to text (`clipboard_images: false`), whatever an offer allows. */
    clipboardImagesDenied: z.boolean(),
    /**
     * True where main signs staff in at the identity provider through the system browser and a
     * loopback redirect (the desktop app, RFC 8252: `sso.begin`, `sso.open`); false where the page
     * itself goes to the provider and back (a console in a browser).
     */
    ssoLoopback: z.boolean(),
  })
  .strict();
export type PolicyView = z.infer<typeof PolicyViewSchema>;

export const PublicJwkSchema = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().min(43).max(43) }).strict();

/** What the consent screen shows, taken from an offer whose signature main has checked against the broker's keys. */
export const OfferViewSchema = z
  .object({
    sid: sessionId,
    org: z.string().max(120),
    analyst: z
      .object({
        id: z.string().max(64),
        name: z.string().max(120),
        username: z.string().max(64),
        organisation: z.string().max(120),
        kind: z.enum(ANALYST_KINDS),
      })
      .strict(),
    /** How the analyst was checked; for single sign-on also who vouched (the issuer) and how the person authenticated there (amr, acr). */
    verification: z
      .object({
        method: z.string().max(64),
        mfa_at: z.number().int().nullable(),
        issuer: z.string().max(300).optional(),
        amr: z.array(z.string().max(32)).max(8).optional(),
        acr: z.string().max(256).nullable().optional(),
      })
      .strict(),
    ticket: z.string().max(64),
    reason: z.string().max(MAX_TEXT_CHARS),
    capabilities: z.array(z.enum(CAPABILITIES)).min(1).max(5),
    consent_covers: z.array(z.enum(CAPABILITIES)).max(5),
    granted_later: z.array(z.enum(CAPABILITIES)).max(5),
    duration_s: z.number().int().min(1).max(24 * 3600),
    /** Whether the session is recorded (common/recording.ts): shown on the consent screen and the banner. */
    recording: z.enum(RECORDING_MODES),
    /** The organisation's name, help line and logo hash as the broker signed them (common/branding.ts); absent from older brokers. */
    branding: BrandingViewSchema.optional(),
    /** Whether supervisors may watch, and whether one must before control (common/watch.ts): the consent screen says so. */
    watchers: WatchTermsSchema,
    /** Whether pictures may be copied through the clipboard as well as text (`policy.clipboard_images`); absent from older brokers: text only. */
    clipboard_images: z.boolean().optional(),
    /** Seconds since the epoch, as in the token. */
    exp: z.number().int(),
    iat: z.number().int(),
  })
  .strict();
export type OfferView = z.infer<typeof OfferViewSchema>;

export const AcquireResultSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), expiresAt: epochMs }).strict(),
  z.object({ ok: z.literal(false), reason: z.string().max(64) }).strict(),
]);

export const GateOutcomeSchema = z.enum([
  'injected',
  'chat',
  'refused_no_grant',
  'refused_inactive',
  'refused_interrupted',
  'refused_panic',
  'dropped_rate',
  'dropped_invalid',
  'dropped_stale',
  'dropped_unknown',
  'inject_failed',
]);

const ok = z.object({ ok: z.literal(true) }).strict();

const transferId = shortId;
/**
 * A piece of a received file on its way to main, as bytes (Electron IPC clones them; the browser
 * host's socket carries them in a binary frame, common/bridge/rpc.ts): one data-channel chunk.
 */
export const MAX_FILE_PIECE_BYTES = 64 * 1024;
/**
 * What the page actually sends: a quarter of a chunk per call. Main frees a piece's buffers only
 * when V8 next collects, and collections come after so much JavaScript, not after so many bytes;
 * smaller pieces mean more JavaScript per byte, so fewer dead bytes wait for each collection. Over
 * the browser host's socket a 16 KiB frame also mostly fits inside one socket read, where a 64 KiB
 * one always spans two and is copied into a third buffer. `npm run bench -- transfer` (2 MiB
 * window): the end user's main process grew 14 to 28 MiB over a 100 MiB file with 64 KiB pieces
 * (four runs, one receiver at 64.4 MiB, over the goal), 5 to 20 MiB with these (six runs;
 * bench/README.md).
 */
export const FILE_PIECE_TO_MAIN_BYTES = 16 * 1024;
const failed = z.object({ ok: z.literal(false), reason: z.string().max(64) }).strict();

/**
 * Files coming to this computer (main/files/receiver.ts): offered (nothing written), accepted by
 * the end user's click (a temporary file in the receiving folder), written in order, finished
 * (moved to its name only when the SHA-256 matches) or cancelled (deleted). Only while a files
 * grant lets files come this way.
 */
export const FILE_METHODS = {
  'files.offer': {
    args: z.tuple([z.object({ sessionId, id: transferId, name: z.string().min(1).max(1024), size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict()]),
    result: z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), saveAs: z.string().max(255), folder: z.string().max(4096) }).strict(), failed]),
  },
  'files.accept': { args: z.tuple([z.object({ sessionId, id: transferId }).strict()]), result: z.discriminatedUnion('ok', [ok, failed]) },
  'files.refuse': { args: z.tuple([z.object({ sessionId, id: transferId }).strict()]), result: ok },
  'files.write': {
    args: z.tuple([z.object({ sessionId, id: transferId, offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), data: z.custom<Uint8Array>((b) => b instanceof Uint8Array && b.byteLength <= MAX_FILE_PIECE_BYTES, 'a file piece is bytes, at most 64 KiB') }).strict()]),
    result: z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), written: z.number().int().min(0) }).strict(), failed]),
  },
  'files.finish': {
    args: z.tuple([z.object({ sessionId, id: transferId }).strict()]),
    result: z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), savedAs: z.string().max(255), sha256: z.string().max(64) }).strict(), failed]),
  },
  'files.cancel': { args: z.tuple([z.object({ sessionId, id: transferId }).strict()]), result: z.object({ cancelled: z.boolean() }).strict() },
} as const;


/** A screen main can share, as it describes it to the page (never its pixels). */
export const DisplayViewSchema = z
  .object({
    /** The capture source's id (`screen:N:0`), one that main listed. */
    id: z.string().min(1).max(64).regex(/^screen:[0-9-]+:[0-9]+$/),
    /** 1-based, left to right then top to bottom, as the end user sees them on the desk. */
    index: z.number().int().min(1).max(16),
    width: z.number().int().min(1).max(32768),
    height: z.number().int().min(1).max(32768),
  })
  .strict();
export type DisplayView = z.infer<typeof DisplayViewSchema>;

export const DISPLAY_METHODS = {
  /**
   * The displays of this machine. `picker: 'main'` (the desktop app): the end user chooses on the
   * consent screen and main gives that source to getDisplayMedia; `'system'` (the browser host):
   * the browser's own picker chooses, and the page tells main which one it gave.
   */
  'displays.list': {
    args: z.tuple([]),
    result: z.object({ picker: z.enum(['main', 'system']), displays: z.array(DisplayViewSchema).max(16), chosen: z.string().max(64).nullable() }).strict(),
  },
  /**
   * The display to share (desktop app: before capture, from the end user's choice) or being shared
   * (browser host: after capture, the track's deviceId). Refused for an id main did not list; on
   * success the input gate maps the analyst's pointer onto that display's rectangle.
   */
  'displays.select': {
    args: z.tuple([z.object({ id: z.string().min(1).max(64) }).strict()]),
    result: z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), display: DisplayViewSchema, count: z.number().int().min(1).max(16) }).strict(), failed]),
  },
} as const;

/** Every method: a tuple of arguments and a result, both parsed on the main side. */
export const BRIDGE_METHODS = {
  'policy.get': { args: z.tuple([]), result: PolicyViewSchema },
  'device.publicJwk': { args: z.tuple([]), result: PublicJwkSchema },
  /** A DPoP proof (RFC 9449) for one broker request; refused for any URL outside the pinned broker's API. */
  'device.dpopProof': {
    args: z.tuple([z.object({ htm: z.enum(['GET', 'POST']), htu: z.string().url().max(2048), accessToken: accessToken.optional() }).strict()]),
    result: jws,
  },
  /** The proof for the signaling socket: the broker's nonce and the session token's hash. */
  'device.nonceProof': { args: z.tuple([z.object({ nonce: z.string().min(8).max(256), token: accessToken }).strict()]), result: jws },
  /**
   * The DPoP proof for one recording chunk of a session open on this machine, for the chunk route
   * main builds itself (the pinned broker, this session, this seq), bound to the end user's session
   * token. The chunk's bytes never cross the bridge (its frames are 64 KiB); `bytes` is bounded here
   * so no proof is made for a chunk the broker would refuse as too large.
   */
  'recording.chunkProof': {
    args: z.tuple([z.object({ sessionId, seq: z.number().int().min(0).max(MAX_CHUNKS_PER_SESSION), bytes: z.number().int().min(1).max(MAX_CHUNK_BYTES), token: accessToken }).strict()]),
    result: z.object({ htu: z.string().url().max(2048), proof: jws }).strict(),
  },
  /**
   * Sends what main's input gate recorded for the session's transcript since the last call, from
   * main itself (the entries never pass through the page), with the end user's session token.
   */
  'recording.transcriptFlush': {
    args: z.tuple([z.object({ sessionId, token: accessToken }).strict()]),
    result: z.object({ sent: z.number().int().min(0).max(100_000) }).strict(),
  },
  /**
   * Who is present and whether a watcher suspended control, as the broker's presence and control
   * frames say, for the end user's transcript: main writes a line for each watcher who came or
   * went and each suspension or resumption since the last call (the broker audits the same).
   */
  'transcript.presence': {
    args: z.tuple([z.object({ sessionId, watchers: z.array(z.object({ id: shortId, name: safeText(64) }).strict()).max(MAX_PRESENT_WATCHERS), suspended: z.boolean() }).strict()]),
    result: z.object({ written: z.number().int().min(0).max(2 * MAX_PRESENT_WATCHERS + 1) }).strict(),
  },
  /** Checks the broker's signature on an offer and that it was made for this device; returns what to show. */
  'offer.verify': { args: z.tuple([z.object({ offer: jws }).strict()]), result: OfferViewSchema },
  /** The consent receipt; main hashes the offer itself and accepts only what consent covers. */
  'consent.receipt': {
    args: z.tuple([z.object({ offer: jws, decision: z.enum(['accept', 'decline']) }).strict()]),
    result: z.object({ sid: sessionId, receipt: jws }).strict(),
  },
  /** The end user's yes to more time; refused when the new end passes this machine's maximum. */
  'extension.receipt': { args: z.tuple([z.object({ sessionId, extensionId: shortId, newExpiresAt: epochMs }).strict()]), result: jws },
  /** The broker made the session active: grants may be acquired for it until expiresAt. */
  'session.open': { args: z.tuple([z.object({ sessionId, expiresAt: epochMs }).strict()]), result: ok },
  'session.setExpiry': { args: z.tuple([z.object({ sessionId, expiresAt: epochMs }).strict()]), result: ok },
  /**
   * The session's connection is interrupted (the peer reconnecting): main's input gate refuses
   * input until `session.resumed`, whatever still arrives on the data channel.
   */
  'session.interrupted': { args: z.tuple([z.object({ sessionId }).strict()]), result: ok },
  'session.resumed': { args: z.tuple([z.object({ sessionId }).strict()]), result: ok },
  /**
   * The teardown report signed by the device key (`chaperone-teardown+jwt`), for a session this
   * machine opened and has already ended locally, once; the page sends it on signaling or over
   * HTTP. The page never holds the key.
   */
  'session.teardownReceipt': { args: z.tuple([z.object({ sessionId, revoked: z.array(GrantKindSchema).max(4) }).strict()]), result: jws },
  /** Whether this machine could give the grant now (nothing is granted): asked before Allow is answered. */
  'grants.check': {
    args: z.tuple([z.object({ sessionId, kind: GrantKindSchema, direction: z.enum(GRANT_DIRECTIONS).optional() }).strict()]),
    result: z.discriminatedUnion('ok', [z.object({ ok: z.literal(true) }).strict(), z.object({ ok: z.literal(false), reason: z.string().max(64) }).strict()]),
  },
  /**
   * Called only from the end user's own click (Accept, Allow). `direction`: the way the end user
   * allowed clipboard text or files to go; main lets nothing go the other way.
   */
  'grants.acquire': { args: z.tuple([z.object({ sessionId, kind: GrantKindSchema, direction: z.enum(GRANT_DIRECTIONS).optional() }).strict()]), result: AcquireResultSchema },
  'grants.revoke': { args: z.tuple([z.object({ kind: GrantKindSchema }).strict()]), result: z.object({ revoked: z.boolean() }).strict() },
  /** Teardown: ends the session locally and revokes every grant; idempotent. */
  'grants.revokeAll': { args: z.tuple([z.object({ sessionId }).strict()]), result: z.object({ revoked: z.array(GrantKindSchema).max(4) }).strict() },
  /**
   * The analyst's refresh token kept across restarts in the operating system's keychain
   * (Electron safeStorage). `stored: false` where this machine cannot keep secrets encrypted, or
   * its policy has no analyst mode: the analyst then signs in again next time.
   */
  'staff.saveRefreshToken': { args: z.tuple([z.object({ token: z.string().min(16).max(MAX_TOKEN_CHARS) }).strict()]), result: z.object({ stored: z.boolean() }).strict() },
  'staff.loadRefreshToken': { args: z.tuple([]), result: z.object({ token: z.string().max(MAX_TOKEN_CHARS).nullable() }).strict() },
  'staff.forgetRefreshToken': { args: z.tuple([]), result: ok },
  /**
   * A desktop notification from main (a request waits for approval). `shown: false` where main has
   * none to show (the browser host: the page uses the browser's Notification then) or the
   * machine's policy has no analyst mode.
   */
  'notify.show': {
    args: z.tuple([z.object({ title: safeText(120), body: safeText(300), tag: shortId }).strict()]),
    result: z.object({ shown: z.boolean() }).strict(),
  },
  'grants.list': { args: z.tuple([]), result: z.array(z.object({ sessionId, kind: GrantKindSchema, expiresAt: epochMs }).strict()).max(4) },
  /** One raw data-channel message from the analyst, untouched: the input gate in main judges it. */
  'input.deliver': {
    args: z.tuple([z.object({ sessionId, data: z.string().max(MAX_CONTROL_MESSAGE_BYTES * 2), channel: z.enum(['pointer', 'reliable']) }).strict()]),
    result: GateOutcomeSchema,
  },
  ...FILE_METHODS,
  ...DISPLAY_METHODS,
  /**
   * Single sign-on in the desktop app (RFC 8252, main/sso-desktop.ts): main listens once on
   * http://127.0.0.1:{a port the system picks}/sso/callback; the page gives that address to the
   * broker's start, then asks main to open the provider's page in the system browser and wait for
   * its answer. Main opens only the configured provider's authorization endpoint, with exactly
   * this listener as redirect and PKCE S256; the answer it returns is worth nothing without the
   * device key (only it can finish at the broker).
   */
  'sso.begin': { args: z.tuple([]), result: z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), redirectUri: z.string().url().max(100) }).strict(), failed]) },
  'sso.open': {
    args: z.tuple([z.object({ url: z.string().url().max(4000) }).strict()]),
    result: z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), state: z.string().min(1).max(512), code: z.string().min(1).max(2048), iss: z.string().max(1000).optional() }).strict(), z.object({ ok: z.literal(false), reason: z.string().max(64), detail: z.string().max(300).optional() }).strict()]),
  },
  /**
   * Text from the analyst for the end user's clipboard, written only while a clipboard grant lets
   * text come to this computer (main/clipboard/watch.ts).
   */
  'clipboard.write': {
    args: z.tuple([z.object({ sessionId, text: z.string().min(1).max(MAX_CLIPBOARD_CHARS) }).strict()]),
    result: z.discriminatedUnion('ok', [ok, failed]),
  },
  /**
   * One piece of a picture from the analyst for the end user's clipboard (common/clipboard/protocol.ts),
   * in order. Main puts the pieces together and writes the picture with the last one, only while a
   * clipboard grant lets data come to this computer and the session may share pictures.
   */
  'clipboard.writeImage': {
    args: z.tuple([z.object({ sessionId, ...ImagePieceSchema.shape }).strict()]),
    result: z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), written: z.boolean() }).strict(), failed]),
  },
  /** Whether pictures may be copied in the session: its offer allowed them and this machine's policy does not forbid them. */
  'clipboard.terms': { args: z.tuple([z.object({ sessionId }).strict()]), result: z.object({ images: z.boolean() }).strict() },
} as const;

/** Pushes from main to the renderer. */
export const BRIDGE_EVENTS = {
  /** A grant stopped (expiry, teardown, the end user); for capture the renderer stops its tracks. */
  'grant.revoked': z.object({ kind: GrantKindSchema, reason: z.enum(['user', 'expired', 'teardown']) }).strict(),
  /** The end user's panic chord: stop the session now. */
  panic: z.object({}).strict(),
  /** A chat message from the analyst that passed the input gate. */
  chat: z.object({ sessionId, text: z.string().min(1).max(2000) }).strict(),
  /** Main stopped every file transfer of the session (the files grant went): their partial files are deleted. */
  'files.stopped': z.object({ sessionId, reason: z.enum(['user', 'expired', 'teardown']) }).strict(),
  /**
   * The end user's clipboard changed while a grant lets data leave it: the text, a picture one
   * piece per event (in order, where the session may share pictures), or why it may not go.
   */
  'clipboard.changed': z.union([
    z.object({ sessionId, text: z.string().min(1).max(MAX_CLIPBOARD_CHARS) }).strict(),
    z.object({ sessionId, image: ImagePieceSchema }).strict(),
    z.object({ sessionId, refused: z.enum(CLIPBOARD_REFUSALS) }).strict(),
  ]),
} as const;

export type BridgeMethod = keyof typeof BRIDGE_METHODS;
export type BridgeArgs<M extends BridgeMethod> = z.infer<(typeof BRIDGE_METHODS)[M]['args']>;
export type BridgeResult<M extends BridgeMethod> = z.infer<(typeof BRIDGE_METHODS)[M]['result']>;
export type BridgeEvent = keyof typeof BRIDGE_EVENTS;
export type BridgeEventPayload<E extends BridgeEvent> = z.infer<(typeof BRIDGE_EVENTS)[E]>;

type Namespace = BridgeMethod extends infer M ? (M extends `${infer N}.${string}` ? N : never) : never;

/** The object the renderer sees as `window.chaperone`: `bridge.grants.acquire({...})`. */
export type ChaperoneBridge = {
  readonly [N in Namespace]: {
    readonly [M in BridgeMethod as M extends `${N}.${infer F}` ? F : never]: (...args: BridgeArgs<M>) => Promise<BridgeResult<M>>;
  };
} & {
  on<E extends BridgeEvent>(event: E, fn: (payload: BridgeEventPayload<E>) => void): () => void;
};

/** What the main process implements: one function per method, given arguments that already passed the schema. */
export type BridgeHandlers = { [M in BridgeMethod]: (...args: BridgeArgs<M>) => Promise<BridgeResult<M>> | BridgeResult<M> };

export const BRIDGE_GLOBAL = 'chaperone';
/** Electron IPC channel of a method (`ipcRenderer.invoke`) and of the event stream. */
export const ipcChannel = (m: BridgeMethod): string => `chaperone:${m}`;
export const IPC_EVENT_CHANNEL = 'chaperone:event';

export class BridgeError extends Error {
  constructor(
    readonly code: 'unknown_method' | 'invalid_args' | 'invalid_result' | 'failed' | 'closed' | 'refused',
    message: string,
  ) {
    super(message);
    this.name = 'BridgeError';
  }
}

export function isBridgeMethod(m: unknown): m is BridgeMethod {
  return typeof m === 'string' && Object.hasOwn(BRIDGE_METHODS, m);
}

export function isBridgeEvent(e: unknown): e is BridgeEvent {
  return typeof e === 'string' && Object.hasOwn(BRIDGE_EVENTS, e);
}

/**
 * The main side of every call: the method must be in the table, the arguments must parse (strict:
 * no extra fields, bounded sizes), and so must the result. Throws BridgeError; never calls a handler
 * with anything the schema did not accept.
 */
export async function dispatchBridgeCall(handlers: BridgeHandlers, method: unknown, args: unknown): Promise<unknown> {
  if (!isBridgeMethod(method)) throw new BridgeError('unknown_method', `no such bridge method: ${String(method).slice(0, 64)}`);
  const def = BRIDGE_METHODS[method];
  const parsed = def.args.safeParse(args);
  if (!parsed.success) throw new BridgeError('invalid_args', `${method}: ${parsed.error.issues[0]?.message ?? 'invalid arguments'}`);
  const fn = handlers[method] as (...a: unknown[]) => unknown;
  const result = await fn(...(parsed.data as unknown[]));
  const out = def.result.safeParse(result);
  if (!out.success) throw new BridgeError('invalid_result', `${method}: the main process returned something its schema refuses`);
  return out.data;
}

/** Parses an event payload from main; null for an unknown event or a payload its schema refuses. */
export function parseBridgeEvent(event: unknown, payload: unknown): { event: BridgeEvent; payload: unknown } | null {
  if (!isBridgeEvent(event)) return null;
  const r = BRIDGE_EVENTS[event].safeParse(payload);
  return r.success ? { event, payload: r.data } : null;
}

/**
 * Builds the renderer-facing object from a transport: `invoke` carries one call to main, `subscribe`
 * delivers main's events. Arguments are checked here too, so a mistake fails in the page with a
 * clear message instead of as a refusal from main.
 */
export function createBridge(
  invoke: (method: BridgeMethod, args: unknown[]) => Promise<unknown>,
  subscribe: (listener: (event: string, payload: unknown) => void) => () => void,
): ChaperoneBridge {
  const api: Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>> = {};
  for (const method of Object.keys(BRIDGE_METHODS) as BridgeMethod[]) {
    const [ns, fn] = method.split('.') as [string, string];
    const def = BRIDGE_METHODS[method];
    // Not an async function: its arguments would stay reachable until main answered. A file's
    // pieces held across that round trip outlive the page's young-generation collections and
    // pile up until a full one (tens of MiB on a large file, bench/README.md, transfer).
    (api[ns] ??= {})[fn] = (...args: unknown[]) => {
      const a = def.args.safeParse(args);
      if (!a.success) return Promise.reject(new BridgeError('invalid_args', `${method}: ${a.error.issues[0]?.message ?? 'invalid arguments'}`));
      return invoke(method, a.data as unknown[]).then((result) => {
        const r = def.result.safeParse(result);
        if (!r.success) throw new BridgeError('invalid_result', `${method}: unexpected result from the main process`);
        return r.data;
      });
    };
  }
  const listeners = new Map<BridgeEvent, Set<(p: unknown) => void>>();
  let unsubscribe: (() => void) | null = null;
  const on = (event: BridgeEvent, fn: (p: unknown) => void): (() => void) => {
    if (!isBridgeEvent(event)) throw new BridgeError('unknown_method', `no such bridge event: ${String(event)}`);
    unsubscribe ??= subscribe((e, p) => {
      const parsed = parseBridgeEvent(e, p);
      if (!parsed) return;
      for (const l of listeners.get(parsed.event) ?? []) {
        try {
          l(parsed.payload);
        } catch {
          // One listener's failure must not stop the others.
        }
      }
    });
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  };
  return Object.freeze({ ...api, on }) as unknown as ChaperoneBridge;
}

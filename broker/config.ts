import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { OrgPolicySchema, type OrgPolicy } from '../common/policy.js';
import { OidcFileSchema, oidcConfigFrom, type OidcConfig } from '../common/oidc-config.js';
import { BRANDING_LOGO_MAX_BYTES, BrandingFileSchema, logoTypeOf, type LogoType } from '../common/branding.js';

/** An IP address, or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
export function isAddressOrCidr(s: string): boolean {
  const [ip, prefix, ...rest] = s.split('/');
  const v = net.isIP(ip ?? '');
  if (v === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (v === 4 ? 32 : 128);
}

/** A hook URL: https://, or http:// to this machine only (the payload is signed, not encrypted). */
export function isHookUrl(s: string): boolean {
  try {
    const u = new URL(s);
    if (u.protocol === 'https:') return true;
    const host = u.hostname.replace(/^\[|\]$/g, '');
    return u.protocol === 'http:' && isLoopback(host);
  } catch {
    return false;
  }
}

/** Optional DATA_DIR/broker.json: everything an operator tunes without code. */
export const BrokerFileSchema = z
  .object({
    policy: OrgPolicySchema.optional(),
    public_url: z.string().url().max(300).optional(),
    turn: z
      .object({ urls: z.array(z.string().max(300)).min(1).max(8), secret: z.string().min(16).max(512), ttl_seconds: z.number().int().min(60).max(86400).default(3600) })
      .strict()
      .optional(),
    hooks: z
      .array(
        z
          .object({
            url: z.string().url().max(500).refine(isHookUrl, 'must be https:// (http:// only to a loopback address: 127.0.0.1, ::1, localhost), since it carries session data'),
            secret: z.string().min(16).max(512),
            events: z.array(z.string().max(64)).max(32).default(['session.ended']),
          })
          .strict(),
      )
      .max(16)
      .default([]),
    /** Single sign-on for staff with OpenID Connect (docs/sso.md). */
    oidc: OidcFileSchema.optional(),
    /** The organisation's name, logo and help-desk line on the end user's screens (docs/operations.md). */
    branding: BrandingFileSchema.optional(),
    syslog: z.object({ host: z.string().max(255), port: z.number().int().min(1).max(65535), transport: z.enum(['udp', 'tcp']).default('udp') }).strict().optional(),
    /**
     * Passkeys (WebAuthn): the relying party id (a domain, never an IP address: browsers refuse
     * those) and the page origins the app's console runs at. Absent: passkeys are off.
     */
    webauthn: z
      .object({
        rp_id: z.string().min(1).max(253).regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'a domain name such as chaperone.example.com or localhost'),
        rp_name: z.string().min(1).max(64).default('Chaperone'),
        origins: z.array(z.string().max(200).regex(/^[a-z][a-z0-9+.-]*:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, 'an origin: scheme://host[:port], no path')).min(1).max(16),
      })
      .strict()
      .optional(),
    /** Page origins allowed to call the API from a browser context (CORS); the desktop app's by default. */
    cors_origins: z
      .array(z.string().max(200).regex(/^[a-z][a-z0-9+.-]*:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, 'an origin: scheme://host[:port], no path'))
      .max(16)
      .default(['chaperone-app://ui']),
    /**
     * Proxies in front of the broker whose X-Forwarded-For names the client: the client is the
     * rightmost address in it that is not one of these. Empty: the header is ignored and the
     * socket's peer is the client.
     */
    trusted_proxies: z.array(z.string().max(64).refine(isAddressOrCidr, 'an IP address or CIDR (for example 10.0.0.5 or 10.0.0.0/8)')).max(64).default([]),
    rate_limits: z
      .object({
        join_failures_per_device: z.number().int().min(1).max(10_000).default(10),
        join_failures_per_source: z.number().int().min(1).max(10_000).default(30),
        join_failures_global: z.number().int().min(1).max(1_000_000).default(1000),
        join_failure_window_minutes: z.number().int().min(1).max(120).default(10),
        max_live_codes: z.number().int().min(1).max(1_000_000).default(10_000),
        login_failures_per_account: z.number().int().min(1).max(1000).default(5),
        signaling_frames_per_s: z.number().int().min(1).max(100_000).default(100),
        signaling_burst: z.number().int().min(1).max(100_000).default(200),
      })
      .strict()
      .default({
        join_failures_per_device: 10,
        join_failures_per_source: 30,
        join_failures_global: 1000,
        join_failure_window_minutes: 10,
        max_live_codes: 10_000,
        login_failures_per_account: 5,
        signaling_frames_per_s: 100,
        signaling_burst: 200,
      }),
  })
  .strict();
export type BrokerFile = z.infer<typeof BrokerFileSchema>;
export type RateLimits = BrokerFile['rate_limits'];

export interface BrokerConfig {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl?: string | undefined;
  pgSchema?: string | undefined;
  /** Cluster mode: Redis carries what the instances share live (broker/cluster/). */
  redisUrl?: string | undefined;
  /** Every key and channel this cluster uses starts with it (several clusters may share one Redis). */
  redisPrefix: string;
  tls?: { cert: string; key: string } | undefined;
  publicUrl: string;
  issuer: string;
  policy: OrgPolicy;
  turn?: { urls: string[]; secret: string; ttlSeconds: number } | undefined;
  hooks: { url: string; secret: string; events: string[] }[];
  syslog?: { host: string; port: number; transport: 'udp' | 'tcp' } | undefined;
  oidc?: OidcConfig | undefined;
  rateLimits: RateLimits;
  corsOrigins: string[];
  webauthn?: { rpId: string; rpName: string; origins: string[] } | undefined;
  trustedProxies: string[];
  /** From broker.json `branding`; the name falls back to policy.organisation where it is used. */
  branding: { name?: string | undefined; helpLine?: string | undefined; logo?: { bytes: Buffer; type: LogoType; sha256: string } | undefined };
  /** Shared secret for the inbound ticket webhook (generated on first run, file mode 0600). */
  ticketWebhookSecret: string;
  accessTokenTtlS: number;
  refreshTokenTtlS: number;
  logLevel: string;
}

export function defaultDataDir(): string {
  return process.env.CHAPERONE_DATA_DIR ?? path.join(os.homedir(), '.chaperone', 'broker');
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function readOrCreateSecret(dataDir: string, name: string): string {
  const file = path.join(dataDir, name);
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const secret = crypto.randomBytes(32).toString('base64url');
  fs.writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

/**
 * The branding logo, checked once at start so a wrong file stops the broker with its reason
 * instead of reaching end users: a PNG, JPEG or WebP by its first bytes, at most 64 KiB.
 */
function readLogo(dataDir: string, file: string): { bytes: Buffer; type: LogoType; sha256: string } {
  const where = path.resolve(dataDir, file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(where);
  } catch (e) {
    throw new Error(`branding.logo: cannot read ${where}: ${(e as Error).message}`);
  }
  if (bytes.length === 0 || bytes.length > BRANDING_LOGO_MAX_BYTES) throw new Error(`branding.logo: ${where} is ${bytes.length} bytes; a logo must be 1 byte to ${BRANDING_LOGO_MAX_BYTES / 1024} KiB`);
  const type = logoTypeOf(bytes);
  if (!type) throw new Error(`branding.logo: ${where} is not a PNG, JPEG or WebP image (SVG and other types are refused: they can carry script)`);
  return { bytes, type, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
}

export interface ConfigOverrides {
  host?: string | undefined;
  port?: number | undefined;
  dataDir: string;
  databaseUrl?: string | undefined;
  pgSchema?: string | undefined;
  redisUrl?: string | undefined;
  redisPrefix?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  policy?: Partial<OrgPolicy> | undefined;
  file?: Partial<BrokerFile> | undefined;
}

export function loadConfig(o: ConfigOverrides): BrokerConfig {
  fs.mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const filePath = path.join(o.dataDir, 'broker.json');
  let fileRaw: unknown = {};
  if (fs.existsSync(filePath)) {
    try {
      fileRaw = JSON.parse(fs.readFileSync(filePath, 'utf8'));
    } catch (e) {
      throw new Error(`${filePath} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const merged = { ...(fileRaw as object), ...(o.file ?? {}) } as Record<string, unknown>;
  if (o.policy) merged.policy = { ...((merged.policy as object) ?? {}), ...o.policy };
  const parsed = BrokerFileSchema.safeParse(merged);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new Error(`${filePath}: ${i?.path.join('.') ?? ''} ${i?.message ?? 'invalid'}`);
  }
  const f = parsed.data;
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 7480;
  const tls = o.tlsCert && o.tlsKey ? { cert: o.tlsCert, key: o.tlsKey } : undefined;
  if ((o.tlsCert && !o.tlsKey) || (!o.tlsCert && o.tlsKey)) throw new Error('--tls-cert and --tls-key go together');
  if (!isLoopback(host) && !tls) {
    throw new Error(`refusing to listen on ${host} without TLS: give --tls-cert and --tls-key, or bind 127.0.0.1`);
  }
  if (o.redisUrl && !o.databaseUrl) {
    throw new Error(
      'cluster mode (REDIS_URL is set) needs PostgreSQL: SQLite is one broker\'s own file and cannot be shared by several instances. Set DATABASE_URL=postgres://... on every instance, or unset REDIS_URL to run one broker on SQLite.',
    );
  }
  if (o.redisUrl && !/^rediss?:\/\//.test(o.redisUrl)) throw new Error('REDIS_URL must be a redis:// or rediss:// URL');
  const redisPrefix = o.redisPrefix ?? 'chaperone:';
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(redisPrefix)) throw new Error('REDIS_PREFIX: up to 64 letters, digits, _ . : -');
  const scheme = tls ? 'https' : 'http';
  const publicUrl = f.public_url ?? `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    host,
    port,
    dataDir: o.dataDir,
    databaseUrl: o.databaseUrl,
    pgSchema: o.pgSchema,
    redisUrl: o.redisUrl,
    redisPrefix,
    tls,
    publicUrl,
    issuer: 'chaperone-broker',
    policy: f.policy ?? OrgPolicySchema.parse({}),
    turn: f.turn ? { urls: f.turn.urls, secret: f.turn.secret, ttlSeconds: f.turn.ttl_seconds } : undefined,
    hooks: f.hooks,
    syslog: f.syslog,
    oidc: oidcConfigFrom(f.oidc, process.env),
    corsOrigins: f.cors_origins,
    webauthn: f.webauthn ? { rpId: f.webauthn.rp_id, rpName: f.webauthn.rp_name, origins: f.webauthn.origins } : undefined,
    trustedProxies: f.trusted_proxies,
    rateLimits: f.rate_limits,
    branding: { name: f.branding?.name, helpLine: f.branding?.help_line, logo: f.branding?.logo ? readLogo(o.dataDir, f.branding.logo) : undefined },
    ticketWebhookSecret: readOrCreateSecret(o.dataDir, 'ticket-webhook.secret'),
    accessTokenTtlS: 600,
    refreshTokenTtlS: 8 * 3600,
    logLevel: process.env.CHAPERONE_LOG_LEVEL ?? 'warn',
  };
}

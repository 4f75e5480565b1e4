import type { FastifyRequest } from 'fastify';
import type { SignedInAccount } from '../auth/account.js';
import { verifyHttpProof, type ProofResult } from '../auth/dpop.js';
import { TokenError } from '../auth/tokens.js';
import type { BrokerContext } from '../context.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, checkWebhookSignature } from '../hooks/signature.js';
import { ApiError, forbidden } from './errors.js';
import { sourceRefusalKey } from '../rate-limit.js';
import type { Authenticator, SessionCaller } from './registry.js';

export function sourceOf(req: FastifyRequest): string {
  return req.ip;
}

/** The path the client signed: without the query, exactly as sent (no normalisation). */
function requestPath(req: FastifyRequest): string {
  const q = req.url.indexOf('?');
  return q < 0 ? req.url : req.url.slice(0, q);
}

async function rejected(ctx: BrokerContext, req: FastifyRequest, code: string, message: string, status = 401): Promise<never> {
  ctx.metrics.authFailures({ code });
  const route = req.routeOptions.url ?? requestPath(req).slice(0, 200);
  await ctx.audit.refused({ type: 'auth.request_rejected', outcome: 'denied', actor: 'anonymous', source: sourceOf(req), meta: { code, method: req.method, route } }, sourceRefusalKey('auth.request_rejected', sourceOf(req), route));
  throw new ApiError(status, code, message);
}

type TokenClaims = Awaited<ReturnType<BrokerContext['tokens']['verify']>>;

/**
 * A DPoP-bound token (access or session) with a fresh proof over this request from the key the
 * token is bound to; every failure is refused and audited the same way.
 */
async function boundToken(ctx: BrokerContext, req: FastifyRequest, kind: 'access' | 'session', label: string): Promise<{ claims: TokenClaims; device: ProofResult }> {
  const authz = req.headers.authorization;
  if (typeof authz !== 'string' || !authz.startsWith('DPoP ')) return rejected(ctx, req, 'token_required', `Authorization: DPoP <${label}> is required`);
  const token = authz.slice(5).trim();
  const proof = req.headers.dpop;
  if (typeof proof !== 'string') return rejected(ctx, req, 'proof_required', `a DPoP proof is required with the ${label}`);
  let claims: TokenClaims;
  let device: ProofResult;
  try {
    claims = await ctx.tokens.verify(kind, token);
    device = await verifyHttpProof(proof, { method: req.method, path: requestPath(req), accessToken: token }, ctx.limits, ctx.now());
  } catch (e) {
    if (e instanceof TokenError) return rejected(ctx, req, e.code, e.message);
    throw e;
  }
  const cnf = claims.cnf as { jkt?: unknown } | undefined;
  if (!cnf || cnf.jkt !== device.jkt) return rejected(ctx, req, 'bad_proof', 'the proof was made with another key than the one this token is bound to');
  return { claims, device };
}

/** A device proof alone: used by end-user clients, which have no account. */
export async function requireDevice(ctx: BrokerContext, req: FastifyRequest): Promise<ProofResult> {
  const proof = req.headers.dpop;
  if (typeof proof !== 'string') return rejected(ctx, req, 'proof_required', 'a DPoP proof signed by the device key is required');
  try {
    return await verifyHttpProof(proof, { method: req.method, path: requestPath(req) }, ctx.limits, ctx.now());
  } catch (e) {
    if (e instanceof TokenError) return rejected(ctx, req, e.code, e.message);
    throw e;
  }
}

/**
 * An analyst, approver, admin or auditor: a DPoP-bound access token plus a fresh proof from the
 * same device key. The signature check may be cached (broker/auth/tokens.ts); whether the token
 * still counts is read from the database on every use: the account enabled, its token epoch the
 * token's, its sign-in not signed out. Roles come from the database too, not the token.
 */
export async function requireAccount(ctx: BrokerContext, req: FastifyRequest, roles?: readonly string[]): Promise<{ account: SignedInAccount; device: ProofResult }> {
  const { claims, device } = await boundToken(ctx, req, 'access', 'access token');
  const check = typeof claims.sub === 'string' ? await ctx.accounts.forAccessToken(claims.sub, claims.epoch, claims.fam) : ({ ok: false, code: 'account_disabled' } as const);
  if (!check.ok) {
    return check.code === 'account_disabled'
      ? rejected(ctx, req, 'account_disabled', 'this account is disabled')
      : rejected(ctx, req, 'token_revoked', 'this token was revoked (signed out, a new password, or the account changed); sign in again');
  }
  const account = check.account;
  if (roles && !roles.some((r) => account.roles.includes(r as never))) {
    const route = req.routeOptions.url ?? '';
    await ctx.audit.refused({ type: 'auth.role_denied', outcome: 'denied', actor: `account:${account.username}`, source: sourceOf(req), meta: { needed: [...roles], route } }, `auth.role_denied|${account.id}|${route}`);
    throw forbidden(`this needs one of the roles: ${roles.join(', ')}`);
  }
  return { account, device };
}


/**
 * The ticketing system's webhook: an HMAC over the exact body bytes with a fresh timestamp. The
 * replay check needs the body and the database, so it stays with the route (routes/tickets.ts).
 */
export async function requireTicketWebhook(ctx: BrokerContext, req: FastifyRequest): Promise<{ signature: string }> {
  const raw = (req as unknown as { rawBody?: string }).rawBody ?? '';
  const check = checkWebhookSignature(ctx.cfg.ticketWebhookSecret, raw, req.headers[TIMESTAMP_HEADER], req.headers[SIGNATURE_HEADER], ctx.now());
  if (!check.ok) {
    await ctx.audit.refused({ type: 'ticket.webhook_rejected', outcome: 'denied', actor: 'webhook:tickets', source: sourceOf(req), meta: { why: check.why } }, sourceRefusalKey('ticket.webhook_rejected', sourceOf(req), check.why));
    throw new ApiError(401, 'bad_webhook_signature', `webhook refused: ${check.why}`);
  }
  return { signature: check.signature };
}

/**
 * A session token (signaling's, bound to a party's device key) used over HTTP, with a DPoP proof
 * over the request and the token's hash. Revocation and the session's state are left to the
 * domain, which audits a chunk after the end as exactly that.
 */
export async function requireSessionToken(ctx: BrokerContext, req: FastifyRequest): Promise<SessionCaller> {
  const { claims, device } = await boundToken(ctx, req, 'session', 'session token');
  if ((claims.role !== 'analyst' && claims.role !== 'end_user') || typeof claims.sid !== 'string') return rejected(ctx, req, 'bad_token', 'token lacks a session role');
  return { sid: claims.sid, role: claims.role, jti: claims.jti, jkt: device.jkt };
}

/**
 * A recording's playback ticket, from the URL a <video> element loads (it cannot send a DPoP
 * proof): issued to an auditor or admin, audited there as recording.viewed; good for the session
 * in the path only and until it expires. Refusals are audited like every other credential's.
 */
export async function requirePlaybackTicket(ctx: BrokerContext, req: FastifyRequest): Promise<{ sid: string; viewer: string }> {
  const ticket = (req.query as { ticket?: unknown } | undefined)?.ticket;
  if (typeof ticket !== 'string' || ticket.length === 0) return rejected(ctx, req, 'ticket_required', 'a playback ticket (?ticket=) is required; open the recording in the console');
  const sid = (req.params as { id?: unknown } | undefined)?.id;
  const checked = typeof sid === 'string' ? ctx.playback.checkTicket(sid, ticket) : null;
  if (!checked) return rejected(ctx, req, 'bad_playback_ticket', 'this playback link is not valid for this recording or has expired; open the recording again');
  return checked;
}

/** What the route registry enforces for each `auth` kind a route declares. */
export function authenticator(ctx: BrokerContext): Authenticator {
  return {
    account: (req, roles) => requireAccount(ctx, req, roles),
    device: (req) => requireDevice(ctx, req),
    webhook: (req) => requireTicketWebhook(ctx, req),
    session: (req) => requireSessionToken(ctx, req),
    playback: (req) => requirePlaybackTicket(ctx, req),
  };
}

import { z } from 'zod';
import type { ChaperoneBridge } from '../../common/bridge/api.js';

/** An error the broker returned, in its one error shape. */
export class BrokerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BrokerError';
  }
}

export interface Tokens {
  access: string;
  refresh: string | null;
}

/**
 * The renderer's client of the broker's HTTP API. Every call carries a DPoP proof that the main
 * process makes with the device key (through the bridge); the page never holds the key. Access
 * tokens are bound to that key, so a token copied out of the page is useless elsewhere.
 */
export class BrokerClient {
  tokens: Tokens | null = null;
  /** Told of every new refresh token (rotation), and of null when refreshing failed. */
  onRefreshToken: ((token: string | null) => void) | null = null;

  constructor(
    private readonly bridge: ChaperoneBridge,
    readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = (...a) => globalThis.fetch(...a),
  ) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, retried = false): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    const htu = url.split('?')[0]!;
    const headers: Record<string, string> = { accept: 'application/json' };
    const access = this.tokens?.access;
    if (access) headers.authorization = `DPoP ${access}`;
    headers.dpop = await this.bridge.device.dpopProof({ htm: method, htu, ...(access ? { accessToken: access } : {}) });
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.fetchImpl(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (res.status === 401 && access && this.tokens?.refresh && !retried && !path.startsWith('/api/v1/auth/')) {
      if (await this.refresh()) return this.call<T>(method, path, body, true);
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
      throw new BrokerError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? `the broker answered ${res.status}`);
    }
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  /** Signs in again with a refresh token kept from an earlier run (rotates it). */
  async resume(refresh: string): Promise<boolean> {
    this.tokens = { access: '', refresh };
    return this.refresh();
  }

  private async refresh(): Promise<boolean> {
    const refresh = this.tokens?.refresh;
    if (!refresh) return false;
    try {
      this.tokens = null;
      const r = await this.post<{ access_token: string; refresh_token: string }>('/api/v1/auth/refresh', { refresh_token: refresh });
      this.tokens = { access: r.access_token, refresh: r.refresh_token };
      this.onRefreshToken?.(r.refresh_token);
      return true;
    } catch (err) {
      // Only the broker's refusal spends the kept token; a network error or an outage keeps it.
      if (err instanceof BrokerError && err.status >= 400 && err.status < 500) this.onRefreshToken?.(null);
      return false;
    }
  }
}

/** Shapes of the broker's answers the screens use (see docs/api.md). */
export interface AccountView {
  id: string;
  username: string;
  display_name: string;
  organisation: string;
  kind: string;
  roles: string[];
}

export interface LoginResult {
  access_token: string;
  refresh_token: string;
  account: AccountView;
}

export interface SessionView {
  id: string;
  state: string;
  end_reason: string | null;
  ticket: string;
  reason: string;
  capabilities: string[];
  duration_minutes: number;
  analyst: { id: string; username: string; display_name: string; organisation: string; kind: string };
  approval: { required: boolean; why: string; approver: string | null; approved_at: number | null; deadline: number | null; rejection_reason: string | null };
  code_expires_at: number | null;
  expires_at: number | null;
  /** The latest the session may run to, extensions included (set when it starts). */
  hard_deadline?: number | null;
  created_at: number;
  ended_at: number | null;
  grants: { capability: string; state: string }[];
}

/** A request for more time waiting for an approver (GET /api/v1/extensions/pending). */
export interface PendingExtension {
  id: string;
  session_id: string;
  ticket: string;
  minutes: number;
  requested_at: number;
  /** The session's reason: a request for more time carries none of its own. */
  reason: string;
  capabilities: string[];
  expires_at: number | null;
  hard_deadline: number | null;
  analyst: { id: string; username: string; display_name: string; organisation: string; kind: string };
}

const Id = z.string().min(1).max(64);
const Text = (max: number) => z.string().max(max);
const Time = z.number().int().nonnegative();
const PendingExtensions = z.object({
  extensions: z
    .array(
      z.object({
        id: Id,
        session_id: Id,
        ticket: Text(64),
        minutes: z.number().int().min(1).max(24 * 60),
        requested_at: Time,
        reason: Text(1000),
        capabilities: z.array(Text(32)).max(16),
        expires_at: Time.nullable(),
        hard_deadline: Time.nullable(),
        analyst: z.object({ id: Id, username: Text(128), display_name: Text(256), organisation: Text(256), kind: Text(32) }),
      }),
    )
    .max(500),
});

/** The approver's list of requests for more time, checked before the screen shows any of it. */
export function parsePendingExtensions(body: unknown): PendingExtension[] {
  return PendingExtensions.parse(body).extensions;
}

export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface SessionTokenResult {
  token: string;
  expires_at: number;
  ice_servers: IceServer[];
}

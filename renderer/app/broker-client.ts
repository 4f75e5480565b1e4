import type { z } from 'zod';
import type { ChaperoneBridge } from '../../common/bridge/api.js';
import { ErrorResponseSchema, LoginResultSchema } from '../../common/protocol/responses.js';

/** An error the broker returned, in its one error shape. */
export class BrokerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** With a 429: seconds until the broker takes this again. */
    readonly retryAfterS: number | null = null,
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

  /**
   * One call. The answer is parsed through `schema` (common/protocol/responses.ts) before anyone
   * sees it: an answer that does not match is a BrokerError `bad_response`, never a cast.
   */
  async call<S extends z.ZodType>(method: 'GET' | 'POST', path: string, schema: S, body?: unknown, retried = false): Promise<z.infer<S>> {
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
      if (await this.refresh()) return this.call(method, path, schema, body, true);
    }
    if (!res.ok) {
      const e = ErrorResponseSchema.safeParse(parsed);
      if (e.success) throw new BrokerError(res.status, e.data.error.code, e.data.error.message, e.data.error.retry_after_s ?? null);
      throw new BrokerError(res.status, `http_${res.status}`, `the broker answered ${res.status}`);
    }
    const answer = schema.safeParse(parsed);
    if (!answer.success) {
      const issue = answer.error.issues[0];
      const where = issue && issue.path.length ? ` at ${issue.path.join('.')}` : '';
      throw new BrokerError(res.status, 'bad_response', `the broker's answer to ${method} ${htu.slice(this.baseUrl.length)} is not what this app understands${where}`);
    }
    return answer.data;
  }

  /** A GET whose answer is read as it arrives (an event stream), with the same token and proof as call(). */
  async openStream(path: string, signal: AbortSignal): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    const access = this.tokens?.access;
    if (access) headers.authorization = `DPoP ${access}`;
    headers.dpop = await this.bridge.device.dpopProof({ htm: 'GET', htu: url.split('?')[0]!, ...(access ? { accessToken: access } : {}) });
    return this.fetchImpl(url, { method: 'GET', headers, signal, credentials: 'same-origin' });
  }

  /** A file the broker sends as bytes (an evidence bundle), with the same token and proof as every call. */
  async bytes(path: string): Promise<Blob> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = {};
    const access = this.tokens?.access;
    if (access) headers.authorization = `DPoP ${access}`;
    headers.dpop = await this.bridge.device.dpopProof({ htm: 'GET', htu: url.split('?')[0]!, ...(access ? { accessToken: access } : {}) });
    const res = await this.fetchImpl(url, { method: 'GET', headers, credentials: 'same-origin' });
    if (!res.ok) throw new BrokerError(res.status, 'download_failed', `the broker refused the download (HTTP ${res.status})`);
    return res.blob();
  }

  get<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S>> {
    return this.call('GET', path, schema);
  }

  post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.infer<S>> {
    return this.call('POST', path, schema, body);
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
      const r = await this.post('/api/v1/auth/refresh', { refresh_token: refresh }, LoginResultSchema);
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

/** The broker's answers the screens use, as common/protocol/responses.ts defines them. */
export type { AccountView, IceServer, LoginResult, PendingExtension, SessionTokenResult, SessionView } from '../../common/protocol/responses.js';

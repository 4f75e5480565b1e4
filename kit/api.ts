import { DeviceKey } from './device.js';

export interface ApiResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A client of the broker's HTTP API as a real app would be: a device key and DPoP proofs on every call. */
export class ApiClient {
  accessToken: string | null = null;
  refreshToken: string | null = null;

  constructor(
    readonly baseUrl: string,
    readonly device: DeviceKey = new DeviceKey(),
  ) {}

  async call<T = any>(method: 'GET' | 'POST', path: string, body?: unknown, opts: { proof?: boolean; token?: string | null; headers?: Record<string, string>; rawBody?: string; redirect?: 'follow' | 'manual' } = {}): Promise<ApiResult<T>> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? this.accessToken : opts.token;
    if (token) headers.authorization = `DPoP ${token}`;
    if (opts.proof !== false) headers.dpop = await this.device.httpProof(method, url.split('?')[0]!, token ?? undefined);
    let payload: string | undefined;
    if (opts.rawBody !== undefined) payload = opts.rawBody;
    else if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const res = await fetch(url, { method, headers, body: payload, ...(opts.redirect ? { redirect: opts.redirect } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = any>(path: string) {
    return this.call<T>('GET', path);
  }

  post<T = any>(path: string, body: unknown = {}) {
    return this.call<T>('POST', path, body);
  }
}

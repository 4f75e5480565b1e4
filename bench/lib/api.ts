import http from 'node:http';
import { DeviceKey } from '../../kit/device.js';

export interface Res<T = any> {
  status: number;
  body: T;
}

/** One keep-alive agent for the whole load generator: HTTP/1.1 connections are reused. */
export const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });

/** Sends one request; the DPoP proof (if any) is made before, so callers can time the request alone. */
export function rawRequest<T = any>(method: 'GET' | 'POST', url: string, headers: Record<string, string>, body?: string): Promise<Res<T>> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const h: Record<string, string | number> = { ...headers };
    if (body !== undefined) {
      h['content-type'] = 'application/json';
      h['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request({ method, host: u.hostname, port: u.port, path: u.pathname + u.search, headers: h, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          /* keep the text */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A client of the broker API as an app would be: a device key and a DPoP proof on every call. */
export class BenchApi {
  constructor(
    readonly baseUrl: string,
    readonly device: DeviceKey = new DeviceKey(),
    public accessToken: string | null = null,
  ) {}

  /** Makes the proof and the headers for one call, without sending it. */
  async prepare(method: 'GET' | 'POST', path: string): Promise<Record<string, string>> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = {};
    if (this.accessToken) headers.authorization = `DPoP ${this.accessToken}`;
    headers.dpop = await this.device.httpProof(method, url, this.accessToken ?? undefined);
    return headers;
  }

  async post<T = any>(path: string, body: unknown = {}): Promise<Res<T>> {
    const headers = await this.prepare('POST', path);
    return rawRequest<T>('POST', `${this.baseUrl}${path}`, headers, JSON.stringify(body));
  }

  async get<T = any>(path: string): Promise<Res<T>> {
    const headers = await this.prepare('GET', path);
    return rawRequest<T>('GET', `${this.baseUrl}${path}`, headers);
  }
}

export function must<T>(r: Res<T>, what: string): T {
  if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

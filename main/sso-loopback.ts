import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** The path registered at the identity provider for the desktop app (broker/auth/oidc.ts LOOPBACK_PATH). */
export const SSO_LOOPBACK_PATH = '/sso/callback';

export interface SsoAnswer {
  state: string;
  code: string;
  iss?: string | undefined;
}

export interface SsoLoopback {
  /** http://127.0.0.1:{port}/sso/callback: what the broker's start is given. */
  redirectUri: string;
  /** Resolves with the provider's answer for `state`; rejects on the provider's error, a timeout, or close(). */
  answer(state: string): Promise<SsoAnswer>;
  close(): void;
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body style="font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto"><main><h1>${title}</h1><p>${text}</p></main></body></html>`;

/**
 * The desktop app's side of single sign-on (RFC 8252): the system browser, not an embedded
 * window, shows the identity provider's pages (the person sees the real address bar and their
 * password manager works), and the provider redirects to this one-shot listener on the loopback
 * interface at a port the system picks. Only 127.0.0.1, only the one path, only the state this
 * sign-in started with; the first matching answer closes it. What it receives is useless without
 * the device key (the broker redeems it only with that key's proof).
 */
export async function listenForSsoAnswer(timeoutMs = 10 * 60_000): Promise<SsoLoopback> {
  let settle: { resolve(a: SsoAnswer): void; reject(e: Error): void } | null = null;
  let expected: string | null = null;
  let early: Error | null = null;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const send = (status: number, title: string, text: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'" });
      res.end(PAGE(title, text));
    };
    if (req.method !== 'GET' || url.pathname !== SSO_LOOPBACK_PATH) return send(404, 'Not here', 'This address only takes the answer of a Chaperone sign-in.');
    const state = url.searchParams.get('state');
    // Anything else on this machine could call the port: an answer for another state is ignored.
    if (expected === null || state !== expected) return send(400, 'Not this sign-in', 'This is not the sign-in Chaperone is waiting for. Start again from the app.');
    const error = url.searchParams.get('error');
    const code = url.searchParams.get('code');
    if (error || !code) {
      send(200, 'Sign-in did not finish', 'The identity provider did not sign you in. Go back to Chaperone to try again.');
      settle?.reject(new Error(`the identity provider answered ${error ?? 'without a code'}${url.searchParams.get('error_description') ? `: ${url.searchParams.get('error_description')}` : ''}`));
    } else {
      send(200, 'Signed in', 'You can close this tab and go back to Chaperone.');
      settle?.resolve({ state, code, iss: url.searchParams.get('iss') ?? undefined });
    }
    server.close();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const timer = setTimeout(() => {
    early = new Error('no answer from the identity provider in time: start the sign-in again');
    settle?.reject(early);
    server.close();
  }, timeoutMs);
  timer.unref();
  const port = (server.address() as AddressInfo).port;
  return {
    redirectUri: `http://127.0.0.1:${port}${SSO_LOOPBACK_PATH}`,
    answer(state) {
      expected = state;
      return new Promise<SsoAnswer>((resolve, reject) => {
        if (early) return reject(early);
        settle = {
          resolve: (a) => {
            clearTimeout(timer);
            resolve(a);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
      });
    },
    close() {
      clearTimeout(timer);
      early = new Error('the sign-in was cancelled');
      settle?.reject(early);
      server.close();
    },
  };
}

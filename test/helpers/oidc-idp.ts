import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/**
 * A real OpenID provider in the test process (oidc-provider from npm), as an organisation's
 * identity provider would be: one confidential client for the broker, people with passwords and
 * groups, and a login page of our own whose submit decides `auth_time` (now, or a given time) and
 * `amr`/`acr`, as a provider does per login. Nothing of the broker is short-circuited.
 */
export interface IdpUser {
  sub: string;
  password: string;
  name: string;
  email: string;
  groups: string[];
  amr: string[];
  acr?: string;
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Another application registered at the same provider (not Chaperone): its codes are not ours. */
  otherClient: { id: string; secret: string };
  users: Map<string, IdpUser>;
  /** The next login's auth_time (seconds) instead of now: a login that happened a while ago. */
  nextLoginTs: number | null;
  provider: Provider;
  close(): Promise<void>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid: string, clientName: string, error?: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Identity: sign in</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;color:#1a1a1a}label{display:block;margin:.8rem 0 .2rem}input{font-size:1rem;padding:.4rem;width:100%}button{margin-top:1rem;font-size:1rem;padding:.5rem 1rem;background:#1d4ed8;color:#fff;border:0;border-radius:.3rem}.err{color:#b00020}</style></head>
<body><main><h1>Acme Identity</h1><p>Sign in to continue to ${esc(clientName)}.</p>${error ? `<p class="err" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login"><label for="u">Username</label><input id="u" name="username" autocomplete="username">
<label for="p">Password</label><input id="p" name="password" type="password" autocomplete="current-password"><button type="submit">Sign in</button></form></main></body></html>`;
}

async function formBody(req: http.IncomingMessage): Promise<URLSearchParams> {
  let s = '';
  for await (const chunk of req) {
    s += chunk;
    if (s.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(s);
}

export async function startTestIdp(users: IdpUser[]): Promise<TestIdp> {
  const byName = new Map(users.map((u) => [u.sub, u]));
  let handler: http.RequestListener = (_q, s) => s.end();
  const server = http.createServer((q, s) => handler(q, s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  const clientId = 'chaperone-broker';
  const clientSecret = crypto.randomBytes(24).toString('base64url');
  const otherClient = { id: 'wiki-app', secret: crypto.randomBytes(24).toString('base64url') };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: otherClient.id,
        client_secret: otherClient.secret,
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/api/v1/auth/oidc/callback'],
        token_endpoint_auth_method: 'client_secret_post',
        client_name: 'Acme Wiki',
      },
      {
        client_id: clientId,
        client_secret: clientSecret,
        // Native: loopback redirects match whatever the port (RFC 8252 section 7.3), so the broker's
        // callback and the desktop app's listener are registered once each.
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/api/v1/auth/oidc/callback', 'http://127.0.0.1/sso/callback'],
        token_endpoint_auth_method: 'client_secret_post',
        require_auth_time: true,
        client_name: 'Chaperone',
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    acrValues: ['phr', 'pwd'],
    // amr and acr ride with the openid scope, as most providers send them unasked.
    claims: { openid: ['sub', 'amr', 'acr', 'auth_time'], profile: ['name', 'preferred_username', 'groups'], email: ['email'] },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      const u = byName.get(id);
      if (!u) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, name: u.name, preferred_username: id, email: u.email, groups: [...u.groups] }) };
    },
  });
  const idp: TestIdp = {
    issuer,
    clientId,
    clientSecret,
    otherClient,
    users: byName,
    nextLoginTs: null,
    provider,
    close: () => new Promise((r) => server.close(() => r())),
  };
  const oidcHandler = provider.callback();
  handler = (req, res) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(req.url ?? '');
    if (!m) return oidcHandler(req, res);
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'consent') {
        // The organisation's own client: consent is given by the organisation, not asked.
        const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
        grant.addOIDCScope('openid profile email');
        const grantId = await grant.save();
        return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      }
      if (!m[2]) {
        res.setHeader('content-type', 'text/html; charset=utf-8');
        return res.end(loginPage(details.uid, 'Chaperone'));
      }
      const form = await formBody(req);
      const u = byName.get(form.get('username') ?? '');
      if (!u || u.password !== form.get('password')) {
        res.setHeader('content-type', 'text/html; charset=utf-8');
        return res.end(loginPage(details.uid, 'Chaperone', 'That username and password do not match.'));
      }
      const ts = idp.nextLoginTs ?? Math.floor(Date.now() / 1000);
      idp.nextLoginTs = null;
      return provider.interactionFinished(req, res, { login: { accountId: u.sub, ts, amr: u.amr, ...(u.acr ? { acr: u.acr } : {}), remember: false } }, { mergeWithLastSubmission: false });
    })().catch((e: Error) => {
      res.statusCode = 500;
      res.end(`idp error: ${e.message}`);
    });
  };
  return idp;
}

/**
 * What a person's browser does at the provider without a browser (integration tests): opens the
 * authorization URL, types the username and password into the login page, and follows the
 * redirects until the provider sends the browser to `until` (the broker's callback or the
 * desktop app's loopback listener), which it returns without opening.
 */
export async function signInAtIdp(authorizationUrl: string, username: string, password: string, until: (u: URL) => boolean): Promise<URL> {
  const jar = new Map<string, string>();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const keep = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
  };
  let url = new URL(authorizationUrl);
  let body: string | undefined;
  for (let hop = 0; hop < 12; hop++) {
    const res = await fetch(url, { redirect: 'manual', method: body ? 'POST' : 'GET', headers: { cookie: cookieHeader(), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) }, body });
    keep(res);
    body = undefined;
    const loc = res.headers.get('location');
    if (loc) {
      url = new URL(loc, url);
      if (until(url)) return url;
      continue;
    }
    const html = await res.text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`the provider answered ${res.status} without a redirect or a login form: ${html.slice(0, 300)}`);
    url = new URL(action.replace(/&#(\d+);/g, (_m, n) => String.fromCharCode(Number(n))), url);
    body = new URLSearchParams({ username, password }).toString();
  }
  throw new Error('too many redirects at the provider');
}

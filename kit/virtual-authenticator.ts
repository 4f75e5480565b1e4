import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type CDPSession, type Page } from 'playwright-core';
import { CHROMIUM_PATH } from './xvfb.js';

/**
 * Chromium's virtual authenticator (CDP WebAuthn domain): a real WebAuthn stack in the browser
 * with a software key behind it, the one Chromium's own tests use. The options the broker hands
 * out go through navigator.credentials as a web page would send them.
 */
export const VIRTUAL_AUTHENTICATOR = { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true } as const;

export async function addVirtualAuthenticator(page: Page): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: VIRTUAL_AUTHENTICATOR });
  return { cdp, authenticatorId };
}

/**
 * A blank page served from `http://{hostname}:{port}` (localhost and *.localhost are secure
 * contexts, and unlike 127.0.0.1 may be a relying party id), with a virtual authenticator.
 */
export class PasskeyPage {
  private constructor(
    readonly origin: string,
    readonly page: Page,
    private readonly server: http.Server,
  ) {}

  static async open(browser: Browser, hostname = 'localhost'): Promise<PasskeyPage> {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>passkey test page</title>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `http://${hostname}:${(server.address() as AddressInfo).port}`;
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${origin}/`);
    await addVirtualAuthenticator(page);
    return new PasskeyPage(origin, page, server);
  }

  /** navigator.credentials.create with the broker's options JSON; the credential as JSON. */
  create(options: unknown): Promise<Record<string, unknown>> {
    return this.page.evaluate(async (o) => {
      const pk = PublicKeyCredential as unknown as { parseCreationOptionsFromJSON(o: unknown): PublicKeyCredentialCreationOptions };
      const c = (await navigator.credentials.create({ publicKey: pk.parseCreationOptionsFromJSON(o) })) as PublicKeyCredential & { toJSON(): Record<string, unknown> };
      return c.toJSON();
    }, options);
  }

  get(options: unknown): Promise<Record<string, unknown>> {
    return this.page.evaluate(async (o) => {
      const pk = PublicKeyCredential as unknown as { parseRequestOptionsFromJSON(o: unknown): PublicKeyCredentialRequestOptions };
      const c = (await navigator.credentials.get({ publicKey: pk.parseRequestOptionsFromJSON(o) })) as PublicKeyCredential & { toJSON(): Record<string, unknown> };
      return c.toJSON();
    }, options);
  }

  async close(): Promise<void> {
    await this.page.context().close();
    await new Promise((r) => this.server.close(r));
  }
}

export function launchHeadlessChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
}

/** What is missing for the virtual authenticator (headless Chromium needs no display). */
export function missingChromium(): string[] {
  try {
    fs.accessSync(CHROMIUM_PATH, fs.constants.X_OK);
    return [];
  } catch {
    return [`${CHROMIUM_PATH} (apt-get install chromium)`];
  }
}

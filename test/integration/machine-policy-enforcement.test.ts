import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchBridgeCall } from '../../common/bridge/api.js';
import { parseMachinePolicy, type MachinePolicyInput } from '../../common/machine-policy.js';
import { MainServices } from '../../main/services.js';
import { XclipClipboard } from '../../main/clipboard/xclip.js';
import type { MachinePolicyResult } from '../../main/machine-policy/index.js';
import { createUser, startTestBroker, tempDir, type TestBroker, type TestUser } from '../../kit/broker.js';

const randomX = () => crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;

/**
 * MainServices under a machine policy, against a real broker on loopback: what the end user's
 * app accepts and refuses when an administrator pinned the broker and set the consent floor, and
 * what it does while the policy is broken.
 */
describe('the machine policy in force', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let dir: string;
  let brokerX: string;
  const services: MainServices[] = [];

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    dir = tempDir('chaperone-mp-');
    const jwks = (await (await fetch(`${b.url}/.well-known/jwks.json`)).json()) as { keys: { x: string }[] };
    brokerX = jwks.keys[0]!.x;
  });
  afterAll(async () => {
    for (const s of services) await s.close();
    await b?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function ok(extra: Partial<MachinePolicyInput> = {}): MachinePolicyResult {
    const r = parseMachinePolicy({ version: 1, broker_url: b.url, broker_public_keys: [brokerX], ...extra });
    if (!r.ok) throw new Error(r.problem);
    return { status: 'ok', policy: r.policy, source: '/etc/chaperone/policy.json' };
  }

  async function start(machinePolicy: MachinePolicyResult | undefined, brokerUrl = b.url): Promise<MainServices> {
    // The X clipboard port (never read here: these tests only ask what the session allows).
    const s = await MainServices.start({ brokerUrl, dataDir: path.join(dir, crypto.randomUUID()), clipboard: new XclipClipboard(':0'), ...(machinePolicy ? { machinePolicy } : {}) });
    services.push(s);
    return s;
  }

  /** A proof request as the page makes it: a refusal arrives as a rejected call, however main refused. */
  const proof = async (s: MainServices, args: { htm: 'POST'; htu: string }) => s.handlers['device.dpopProof'](args);

  /** The analyst asks for a session, the end user's app redeems the code with its own device key. */
  async function offerFor(s: MainServices, opts: { caps?: string[]; minutes?: number } = {}): Promise<string> {
    const req = await analyst.api.post('/api/v1/sessions', { ticket: `INC-${crypto.randomInt(1e6)}`, reason: 'printer', capabilities: opts.caps ?? ['view', 'chat'], duration_minutes: opts.minutes ?? 10 });
    expect(req.body.id).toEqual(expect.any(String));
    const code = (await analyst.api.post(`/api/v1/sessions/${req.body.id}/code`, {})).body.code as string;
    const url = `${b.url}/api/v1/join`;
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', dpop: await s.handlers['device.dpopProof']({ htm: 'POST', htu: url }) }, body: JSON.stringify({ code }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { offer: string }).offer;
  }

  it('a policy that allows this broker’s organisation and length: the offer shows and consent is signed', async () => {
    const s = await start(ok({ allowed_organisations: ['chaperone'], max_session_minutes: 15, analyst_mode: false }));
    const offer = await offerFor(s);
    const view = await s.handlers['offer.verify']({ offer });
    expect(view).toMatchObject({ org: 'Chaperone', duration_s: 600, consent_covers: ['view', 'chat'] });
    const { receipt } = await s.handlers['consent.receipt']({ offer, decision: 'accept' });
    expect(receipt.split('.')).toHaveLength(3);
    expect(await dispatchBridgeCall(s.handlers, 'policy.get', [])).toMatchObject({
      brokerUrl: b.url,
      managed: { status: 'ok', source: '/etc/chaperone/policy.json', message: null },
      analystMode: false,
      maxDurationS: 900,
    });
  });

  it('an offer from an organisation the policy does not list is refused, saying which are allowed', async () => {
    const s = await start(ok({ allowed_organisations: ['Acme IT', 'Contoso'] }));
    const offer = await offerFor(s);
    await expect(s.handlers['offer.verify']({ offer })).rejects.toThrow("This machine's policy accepts sessions only from Acme IT, Contoso; this one is from Chaperone.");
    await expect(s.handlers['consent.receipt']({ offer, decision: 'accept' })).rejects.toThrow(/accepts sessions only from/);
  });

  it('an offer longer than the maximum is refused', async () => {
    const s = await start(ok({ max_session_minutes: 5 }));
    const offer = await offerFor(s, { minutes: 10 });
    await expect(s.handlers['offer.verify']({ offer })).rejects.toThrow("This machine's policy allows sessions of at most 5 minutes; this one asks for 10 minutes.");
  });

  it('an offer asking for a capability the policy denies is refused', async () => {
    const s = await start(ok({ denied_capabilities: ['chat'] }));
    const offer = await offerFor(s);
    await expect(s.handlers['offer.verify']({ offer })).rejects.toThrow("This machine's policy does not allow chat in a session; this one asks for it.");
    expect((await s.handlers['policy.get']()).deniedCapabilities).toEqual(['chat']);
  });

  it('a broker whose key set lacks the pinned key is not trusted (a wrong broker, or a key not pinned yet)', async () => {
    const s = await start(ok({ broker_public_keys: [randomX()] }));
    const offer = await offerFor(s);
    await expect(s.handlers['offer.verify']({ offer })).rejects.toThrow(`The broker at ${b.url} does not publish the key this machine's policy pins`);
  });

  it('the pinned broker replaces the configured one for keys, proofs and what the page is told', async () => {
    const s = await start(ok(), 'http://127.0.0.1:9');
    expect((await s.handlers['policy.get']()).brokerUrl).toBe(b.url);
    await expect(proof(s, { htm: 'POST', htu: 'http://127.0.0.1:9/api/v1/join' })).rejects.toThrow(/only for the pinned broker/);
    const offer = await offerFor(s);
    expect((await s.handlers['offer.verify']({ offer })).org).toBe('Chaperone');
  });

  it('without the analyst mode, no proofs are made for the staff API; joining still works', async () => {
    const s = await start(ok({ analyst_mode: false }));
    await expect(proof(s, { htm: 'POST', htu: `${b.url}/api/v1/auth/login` })).rejects.toThrow("This machine's policy does not include the analyst mode");
    await expect(proof(s, { htm: 'POST', htu: `${b.url}/api/v1/join/consent` })).resolves.toMatch(/\./);
    const withAnalyst = await start(ok({ analyst_mode: true }));
    await expect(proof(withAnalyst, { htm: 'POST', htu: `${b.url}/api/v1/auth/login` })).resolves.toMatch(/\./);
  });

  it('the session’s local end is held to the maximum, also when it is extended', async () => {
    const s = await start(ok({ max_session_minutes: 5 }));
    const now = Date.now();
    expect(() => s.handlers['session.open']({ sessionId: crypto.randomUUID(), expiresAt: now + 30 * 60_000 })).toThrow(/at most 5 minutes/);
    const sid = crypto.randomUUID();
    expect(s.handlers['session.open']({ sessionId: sid, expiresAt: now + 5 * 60_000 })).toEqual({ ok: true });
    expect(() => s.handlers['session.setExpiry']({ sessionId: sid, expiresAt: now + 20 * 60_000 })).toThrow(/cannot run longer/);
    expect(s.handlers['session.setExpiry']({ sessionId: sid, expiresAt: now + 4 * 60_000 })).toEqual({ ok: true });
    // The end user's yes to more time is not even signed when the new end passes the maximum.
    await expect(Promise.resolve().then(() => s.handlers['extension.receipt']({ sessionId: sid, extensionId: 'e1', newExpiresAt: now + 20 * 60_000 }))).rejects.toThrow(/at most 5 minutes/);
    expect(await s.handlers['extension.receipt']({ sessionId: sid, extensionId: 'e2', newExpiresAt: now + 5 * 60_000 })).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('after the broker rotates to a key the administrator has not pinned, its new offers are refused', async () => {
    const rotated = await startTestBroker('sqlite');
    try {
      const x = ((await (await fetch(`${rotated.url}/.well-known/jwks.json`)).json()) as { keys: { x: string }[] }).keys[0]!.x;
      const pol = parseMachinePolicy({ version: 1, broker_url: rotated.url, broker_public_keys: [x] });
      if (!pol.ok) throw new Error(pol.problem);
      const s = await start({ status: 'ok', policy: pol.policy, source: 'test' }, rotated.url);
      rotated.ctx.keys.rotate(Date.now());
      const alice = await createUser(rotated, 'alice', ['analyst']);
      const req = await alice.api.post('/api/v1/sessions', { ticket: 'INC-1', reason: 'printer', capabilities: ['view'], duration_minutes: 10 });
      const code = (await alice.api.post(`/api/v1/sessions/${req.body.id}/code`, {})).body.code as string;
      const url = `${rotated.url}/api/v1/join`;
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', dpop: await s.handlers['device.dpopProof']({ htm: 'POST', htu: url }) }, body: JSON.stringify({ code }) });
      const offer = ((await res.json()) as { offer: string }).offer;
      // The old key is still published (so this is the right broker), but the offer is signed with the new one.
      await expect(s.handlers['offer.verify']({ offer })).rejects.toThrow("This offer is not signed with the broker key this machine's policy pins.");
    } finally {
      await rotated.destroy();
    }
  });

  it('a broken policy refuses every session with the helpdesk message, and the page is told', async () => {
    const message = 'The machine policy at /etc/chaperone/policy.json could not be read: unknown field "x". Chaperone will not start sessions until an administrator fixes it.';
    const s = await start({ status: 'invalid', source: '/etc/chaperone/policy.json', message });
    const healthy = await start(undefined);
    const offer = await offerFor(healthy);
    await expect(s.handlers['offer.verify']({ offer })).rejects.toThrow(message);
    await expect(s.handlers['consent.receipt']({ offer, decision: 'accept' })).rejects.toThrow(message);
    await expect(proof(s, { htm: 'POST', htu: `${b.url}/api/v1/join` })).rejects.toThrow(message);
    const sid = crypto.randomUUID();
    expect(() => s.handlers['session.open']({ sessionId: sid, expiresAt: Date.now() + 60_000 })).toThrow(message);
    expect(await s.handlers['grants.acquire']({ sessionId: sid, kind: 'capture' })).toEqual({ ok: false, reason: 'machine_policy_invalid' });
    expect(await dispatchBridgeCall(s.handlers, 'policy.get', [])).toMatchObject({ managed: { status: 'invalid', source: '/etc/chaperone/policy.json', message }, analystMode: false });
  });

  it('no policy (unmanaged): nothing changes, and the page is told it is unmanaged', async () => {
    const s = await start(undefined);
    const offer = await offerFor(s);
    await expect(s.handlers['offer.verify']({ offer })).resolves.toMatchObject({ org: 'Chaperone' });
    expect(await dispatchBridgeCall(s.handlers, 'policy.get', [])).toMatchObject({ managed: null, analystMode: true, maxDurationS: null });
  });

  it('pictures on the clipboard: only where the signed offer allows them and the machine does not keep to text', async () => {
    const before = b.ctx.cfg.policy;
    try {
      const terms = async (s: MainServices, offer: string) => {
        const view = await s.handlers['offer.verify']({ offer });
        const { sid } = await s.handlers['consent.receipt']({ offer, decision: 'accept' });
        return { offered: view.clipboard_images, images: (await dispatchBridgeCall(s.handlers, 'clipboard.terms', [{ sessionId: sid }])) as { images: boolean } };
      };
      // Clipboard approved without an approver here, so the code works at once; pictures still the default: off.
      b.ctx.cfg.policy = { ...before, auto_approve: { capabilities: ['view', 'chat', 'clipboard'], analyst_kinds: ['internal'] } };
      // The organisation's default: text only, and the offer says so.
      const plain = await start(ok());
      expect(await terms(plain, await offerFor(plain, { caps: ['view', 'clipboard'] }))).toEqual({ offered: false, images: { images: false } });

      b.ctx.cfg.policy = { ...b.ctx.cfg.policy, clipboard_images: true };
      const allowed = await start(ok());
      expect(await terms(allowed, await offerFor(allowed, { caps: ['view', 'clipboard'] }))).toEqual({ offered: true, images: { images: true } });
      // The same offer on a machine whose policy keeps the clipboard to text.
      const textOnly = await start(ok({ clipboard_images: false }));
      expect(await terms(textOnly, await offerFor(textOnly, { caps: ['view', 'clipboard'] }))).toEqual({ offered: true, images: { images: false } });
      expect(await dispatchBridgeCall(textOnly.handlers, 'policy.get', [])).toMatchObject({ clipboardImagesDenied: true });
      // Declined: nothing allowed.
      const declined = await start(ok());
      const offer = await offerFor(declined, { caps: ['view', 'clipboard'] });
      const { sid } = await declined.handlers['consent.receipt']({ offer, decision: 'decline' });
      expect(await dispatchBridgeCall(declined.handlers, 'clipboard.terms', [{ sessionId: sid }])).toEqual({ images: false });
    } finally {
      b.ctx.cfg.policy = before;
    }
  });
});

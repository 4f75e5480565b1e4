import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as cli } from '../../broker/cli.js';
import { signWebhook } from '../../broker/hooks/signature.js';
import { ApiClient } from '../../kit/api.js';
import { createUser, startTestBroker, tempDir, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, connectBoth, requestSession } from '../../kit/lifecycle.js';

/**
 * Free text the broker accepts reaches people: the end user's consent screen (inside the signed
 * offer), the approver's list, the audit. None of it may carry characters that are invisible or
 * that change how the text around them reads: controls (C0, C1), bidi marks, embeddings,
 * overrides and isolates, zero-width characters, line and paragraph separators.
 */
const UNSAFE: [string, string][] = [
  ['NUL', '\u0000'],
  ['ESC', '\u001b'],
  ['DEL', '\u007f'],
  ['NEL (C1)', '\u0085'],
  ['CSI (C1)', '\u009b'],
  ['ALM', '\u061c'],
  ['ZWSP', '\u200b'],
  ['ZWNJ', '\u200c'],
  ['ZWJ', '\u200d'],
  ['LRM', '\u200e'],
  ['RLM', '\u200f'],
  ['LINE SEPARATOR', '\u2028'],
  ['PARAGRAPH SEPARATOR', '\u2029'],
  ['LRE', '\u202a'],
  ['RLE', '\u202b'],
  ['PDF', '\u202c'],
  ['LRO', '\u202d'],
  ['RLO', '\u202e'],
  ['LRI', '\u2066'],
  ['RLI', '\u2067'],
  ['FSI', '\u2068'],
  ['PDI', '\u2069'],
  ['WORD JOINER', '\u2060'],
  ['BOM', '\ufeff'],
  ['TAG LATIN A', '\u{e0041}'],
  ['lone surrogate', '\ud800'],
];

const FINE = 'Zoë Ñúñez – 東京 مرحبا 👍 (ticket #4)';

describe('free text refuses invisible and direction-changing characters, everywhere the broker takes it', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let approver: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    approver = await createUser(b, 'bob', ['approver']);
    admin = await createUser(b, 'root', ['admin']);
  });
  afterAll(async () => b?.destroy());

  /** Each way of sending free text, with `t` in the field. */
  const fields: [string, (t: string) => Promise<{ status: number }>][] = [
    ['session reason', (t) => analyst.api.post('/api/v1/sessions', { ticket: 'INC-TXT', reason: `printer ${t} driver`, capabilities: ['view'], duration_minutes: 5 })],
    ['display name', (t) => admin.api.post('/api/v1/admin/users', { username: `u${crypto.randomInt(1e9)}`, display_name: `Alice${t}Ng`, organisation: 'Acme IT', roles: ['auditor'] })],
    ['organisation', (t) => admin.api.post('/api/v1/admin/users', { username: `u${crypto.randomInt(1e9)}`, display_name: 'Alice Ng', organisation: `Acme${t}IT`, roles: ['auditor'] })],
    ['sign-in username', (t) => new ApiClient(b.url).post('/api/v1/auth/login', { username: `alice${t}`, password: 'whatever' })],
    [
      'ticket webhook event id',
      (t) => {
        const raw = JSON.stringify({ event_id: `ev${t}1`, ticket: 'INC-TXT', status: 'open' });
        const ts = Math.floor(Date.now() / 1000);
        return new ApiClient(b.url).call('POST', '/api/v1/webhooks/tickets', undefined, { proof: false, rawBody: raw, headers: { 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': signWebhook(b.ctx.cfg.ticketWebhookSecret, ts, raw) } });
      },
    ],
  ];

  for (const [field, send] of fields) {
    it.each(UNSAFE)(`${field}: %s is refused`, async (_name, ch) => {
      const r = await send(ch);
      expect(r.status).toBe(400);
    });
    if (field !== 'sign-in username') {
      it(`${field}: ordinary text in any script is taken`, async () => {
        expect((await send(FINE)).status).toBe(200);
      });
    }
  }

  it('a rejection reason and a reason for refusing more time refuse them too', async () => {
    for (const [name, ch] of UNSAFE) {
      const s = await requestSession(analyst, ['view', 'control']);
      const r = await approver.api.post(`/api/v1/sessions/${s.id}/reject`, { reason: `no ${ch} window` });
      expect(r.status, name).toBe(400);
    }
    const s = await activeSession(b, analyst, { caps: ['view', 'control'], approver });
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'extend.request', request_id: 'more', minutes: 5 });
    const pending = await an.nextOfType('extend.pending_approval');
    const url = `/api/v1/sessions/${s.id}/extensions/${pending.extension_id}/reject`;
    for (const [name, ch] of UNSAFE) expect((await approver.api.post(url, { reason: `freeze ${ch}` })).status, name).toBe(400);
    expect((await approver.api.post(url, { reason: FINE })).status).toBe(200);
    eu.close();
    an.close();
  });

  it('the command line refuses them in a display name or organisation', async () => {
    const err = process.stderr.write;
    const out = process.stdout.write;
    process.stderr.write = () => true;
    process.stdout.write = () => true;
    try {
      for (const [, ch] of UNSAFE.filter(([n]) => n !== 'NUL' && n !== 'lone surrogate')) {
        expect(await cli(['user', 'add', '--username', `c${crypto.randomInt(1e9)}`, '--display-name', `Mal${ch}lory`, '--roles', 'auditor', '--data-dir', b.dataDir])).not.toBe(0);
        expect(await cli(['user', 'add', '--username', `c${crypto.randomInt(1e9)}`, '--display-name', 'Mallory', '--organisation', `Evil${ch}Corp`, '--roles', 'auditor', '--data-dir', b.dataDir])).not.toBe(0);
      }
    } finally {
      process.stderr.write = err;
      process.stdout.write = out;
    }
  });

  it("the organisation in broker.json (it is in every offer) refuses them at start", async () => {
    const dir = tempDir();
    try {
      fs.writeFileSync(path.join(dir, 'broker.json'), JSON.stringify({ policy: { organisation: 'Acme\u202eCorp' } }));
      await expect(startTestBroker('sqlite', {}, { dataDir: dir })).rejects.toThrow(/organisation/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaperoneBridge } from '../../common/bridge/api.js';
import { MeSchema, SessionListSchema, SessionViewSchema } from '../../common/protocol/responses.js';
import { BrokerClient, BrokerError } from '../../renderer/app/broker-client.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';

/**
 * The app's broker client against a real broker: answers arrive parsed through the schemas in
 * common/protocol/responses.ts, and an answer of another shape is refused, not cast.
 */
describe("the app's broker client parses every answer", () => {
  let b: TestBroker;
  let alice: TestUser;
  let client: BrokerClient;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    alice = await createUser(b, 'alice', ['analyst']);
    // The proofs come from the device key alice's token is bound to, as main would make them.
    const bridge = { device: { dpopProof: (a: { htm: string; htu: string; accessToken?: string }) => alice.api.device.httpProof(a.htm, a.htu, a.accessToken) } };
    client = new BrokerClient(bridge as unknown as ChaperoneBridge, b.url);
    client.tokens = { access: alice.api.accessToken!, refresh: null };
  });
  afterAll(async () => b?.destroy());

  it('a real answer comes back typed and checked', async () => {
    const me = await client.get('/api/v1/me', MeSchema);
    expect(me).toMatchObject({ username: 'alice', roles: ['analyst'], disabled: false });
    const s = await client.post('/api/v1/sessions', { ticket: 'INC-7', reason: 'printer', capabilities: ['view'], duration_minutes: 10 }, SessionViewSchema);
    expect(s).toMatchObject({ state: 'approved', ticket: 'INC-7', capabilities: ['view'], grants: [] });
    expect((await client.get('/api/v1/sessions', SessionListSchema)).sessions.map((x) => x.id)).toContain(s.id);
  });

  it('an answer that does not match the schema is a BrokerError bad_response', async () => {
    const err = await client.get('/api/v1/me', SessionViewSchema).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ status: 200, code: 'bad_response' });
    expect((err as Error).message).toMatch(/GET \/api\/v1\/me/);
  });

  it("the broker's refusals keep their status, code and message", async () => {
    const err = await client.get(`/api/v1/sessions/${crypto.randomUUID()}`, SessionViewSchema).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ status: 404, code: 'not_found', message: 'no such session' });
  });
});

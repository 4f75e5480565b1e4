import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, nodeEngine, wsFactory } from '../../kit/node-session.js';
import { tamperingSocket } from '../helpers/tampering-socket.js';

/**
 * Grant answers on the wire (docs/signaling.md, WIRE-10 items 1 and 2): the end user's answer
 * names the capability its prompt showed, and a request nobody answers is ended by the broker,
 * which tells both sides why (`grant.changed {granted: false, by: "broker", reason: "timeout"}`).
 */
describe('grant answers', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let approver: TestUser;
  beforeAll(async () => {
    b = await startTestBroker('sqlite', { policy: { control_prompt_seconds: 5 } } as never);
    analyst = await createUser(b, 'alice', ['analyst']);
    approver = await createUser(b, 'bob', ['approver']);
  });
  afterAll(async () => b?.destroy());

  it('the answer names the capability shown; an unanswered request times out on both sides at the prompt time plus 2 s', async () => {
    const s = await activeSession(b, analyst, { caps: ['view', 'chat', 'control'], approver });
    const screen = new SyntheticScreen();
    const exp = Date.now() + 30 * 60_000;
    const sent: Record<string, unknown>[] = [];
    const euSocket = tamperingSocket(wsFactory, { outgoing: (f) => (sent.push(f), f) });
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: [], stream: screen.stream, socket: euSocket.factory });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [] });
    const up = Promise.all([eu.once('sas'), an.once('sas')]);
    eu.start();
    an.start();
    await up;

    const asked = eu.once('grantRequest');
    const answered = Promise.all([an.once('grant'), eu.once('grant')]);
    an.requestGrant('control', 'first');
    eu.respondGrant((await asked).request_id, 'control', false);
    const no = { capability: 'control', granted: false, by: 'end_user', requestId: 'first', reason: null, direction: null };
    expect(await answered).toEqual([no, no]);
    expect(sent.filter((f) => f.type === 'grant.response')).toEqual([{ type: 'grant.response', request_id: 'first', capability: 'control', allow: false }]);

    const anHears = an.once('grant');
    const euHears = eu.once('grant');
    const at = Date.now();
    an.requestGrant('control', 'second');
    const timeout = { capability: 'control', granted: false, by: 'broker', requestId: 'second', reason: 'timeout', direction: null };
    expect(await anHears).toEqual(timeout);
    expect(await euHears).toEqual(timeout);
    expect(Date.now() - at).toBeGreaterThanOrEqual(6500);
    await b.ctx.audit.flush();
    const timedOut = await b.ctx.storage.db.selectFrom('audit_events').select(['meta']).where('session_id', '=', s.id).where('type', '=', 'grant.timed_out').orderBy('seq').execute();
    expect(timedOut.map((d) => JSON.parse(d.meta) as { request_id?: string })).toEqual([expect.objectContaining({ capability: 'control', request_id: 'second' })]);
    await an.stop();
    screen.stop();
  }, 30_000);
});

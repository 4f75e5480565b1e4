import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { consent, redeem, requestSession } from '../../kit/lifecycle.js';
import { parseStateEvent } from '../../renderer/app/flows/session-watch.js';

/** Reads `event: state` events off the analyst's stream as they arrive. */
async function openEvents(u: TestUser, b: TestBroker, id: string) {
  const url = `${b.url}/api/v1/sessions/${id}/events`;
  const abort = new AbortController();
  const res = await fetch(url, { headers: { authorization: `DPoP ${u.api.accessToken}`, dpop: await u.api.device.httpProof('GET', url, u.api.accessToken!) }, signal: abort.signal });
  const states: string[] = [];
  const waiters: (() => void)[] = [];
  let ended = false;
  const pump = (async () => {
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: '', done: true }));
      if (done) break;
      buf += value;
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const s = parseStateEvent(buf.slice(0, cut));
        buf = buf.slice(cut + 2);
        if (s) states.push(s);
        for (const w of waiters.splice(0)) w();
      }
    }
    ended = true;
    for (const w of waiters.splice(0)) w();
  })();
  const until = async (pred: () => boolean, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out; states so far: ${states.join(', ')}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  return { res, states, until, closed: () => ended, pump, close: () => abort.abort() };
}

describe('the analyst hears its session move as server-sent events', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let other: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    other = await createUser(b, 'mallory', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  it('the state now, then code_issued, active and ended as they happen, then the stream closes', async () => {
    const s = await requestSession(analyst);
    const ev = await openEvents(analyst, b, s.id);
    expect(ev.res.status).toBe(200);
    expect(ev.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await ev.until(() => ev.states.length >= 1);
    expect(ev.states).toEqual(['approved']);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    await ev.until(() => ev.states.includes('code_issued'));
    const { api, res } = await redeem(b, c.body.code);
    await ev.until(() => ev.states.includes('pending_consent'));
    const accepted = consent(api, s.id, res.body.offer, 'accept');
    await ev.until(() => ev.states.includes('active'));
    expect((await accepted).status).toBe(200);
    // The push is what the analyst's page acts on: the token is there to take at that moment.
    expect((await analyst.api.post(`/api/v1/sessions/${s.id}/token`, {})).status).toBe(200);
    await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {});
    await ev.until(() => ev.closed());
    expect(ev.states).toEqual(['approved', 'code_issued', 'pending_consent', 'active', 'ended']);
    // The old way still works beside it.
    expect((await analyst.api.get(`/api/v1/sessions/${s.id}`)).body.state).toBe('ended');
  });

  it('another analyst gets no stream of a session that is not theirs, and no token gets none', async () => {
    const s = await requestSession(analyst);
    const url = `${b.url}/api/v1/sessions/${s.id}/events`;
    const theirs = await fetch(url, { headers: { authorization: `DPoP ${other.api.accessToken}`, dpop: await other.api.device.httpProof('GET', url, other.api.accessToken!) } });
    expect(theirs.status).toBe(404);
    expect(theirs.headers.get('content-type')).toMatch(/json/);
    const anon = await fetch(url);
    expect(anon.status).toBe(401);
    await analyst.api.post(`/api/v1/sessions/${s.id}/end`, {});
  });

  it('a stream still open when the broker closes is ended, not waited for', async () => {
    const b2 = await startTestBroker('sqlite');
    const a2 = await createUser(b2, 'carol', ['analyst']);
    const s = await requestSession(a2);
    const ev = await openEvents(a2, b2, s.id);
    await ev.until(() => ev.states.length >= 1);
    const t0 = Date.now();
    await b2.destroy();
    expect(Date.now() - t0).toBeLessThan(5000);
    await ev.until(() => ev.closed());
  });
});

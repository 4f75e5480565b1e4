import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { redeem, requestSession } from '../../kit/lifecycle.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const doc = (name: string) => fs.readFileSync(path.join(ROOT, 'docs', name), 'utf8');

/** The part of a markdown document under a heading, up to the next heading of that level or above. */
function section(md: string, heading: string): string {
  const start = md.indexOf(heading);
  if (start < 0) return '';
  const level = /^#+/.exec(heading)?.[0].length ?? 2;
  const rest = md.slice(start + heading.length);
  const next = new RegExp(`\\n#{1,${level}} `).exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

/** What a client written from docs/ alone needs, checked against what a real broker does. */
describe('docs/ says what the broker does', () => {
  let b: TestBroker;
  let analyst: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  it("docs/api.md lists every claim of the broker's signed offer, and its header", async () => {
    const s = await requestSession(analyst);
    const c = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    const { res } = await redeem(b, c.body.code);
    const [h, p] = (res.body.offer as string).split('.');
    const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const text = section(doc('api.md'), '### The offer');
    expect(text.length).toBeGreaterThan(0);
    const missing = [...Object.keys(claims), ...Object.keys(header)].filter((k) => !text.includes(`\`${k}\``) && !text.includes(`"${k}"`));
    expect(missing).toEqual([]);
  });

  it("the OpenAPI summary of rejecting more time is its own, not approving's", async () => {
    const api = (await new ApiClient(b.url).get('/openapi.json')).body as { paths: Record<string, { post?: { summary?: string } }> };
    const approve = api.paths['/api/v1/sessions/{id}/extensions/{eid}/approve']?.post?.summary ?? '';
    const reject = api.paths['/api/v1/sessions/{id}/extensions/{eid}/reject']?.post?.summary ?? '';
    expect(reject).toMatch(/^Reject/);
    expect(reject).not.toMatch(/still has to consent/);
    expect(approve).toMatch(/^Approve/);
  });

  it('docs/api.md says how the analyst learns that the end user consented', () => {
    expect(doc('api.md')).toMatch(/How the analyst learns that the end user consented/);
  });

  it('docs/signaling.md says whether signaling frames carry a sequence number', () => {
    expect(doc('signaling.md')).toMatch(/no sequence number/);
  });
});

import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const RULE = '@typescript-eslint/no-restricted-imports';

async function refusals(file: string, from: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [r] = await eslint.lintText(`import x from '${from}';\nexport const a = x;\n`, { filePath: path.join(root, file) });
  return (r?.messages ?? []).filter((m) => m.ruleId === RULE).map((m) => m.message);
}

/** The broker's inner rooms (broker/README.md), as the lint rule CI runs enforces them. */
describe("the broker's rooms import the way broker/README.md says", () => {
  const refused: [file: string, from: string][] = [
    ['broker/storage/probe.ts', '../sessions/service.js'],
    ['broker/storage/probe.ts', '../audit/log.js'],
    ['broker/sessions/probe.ts', 'fastify'],
    ['broker/sessions/probe.ts', '../http/errors.js'],
    ['broker/sessions/probe.ts', '../signaling/hub.js'],
    ['broker/sessions/probe.ts', '../hooks/outbound.js'],
    ['broker/sessions/probe.ts', '../context.js'],
    ['broker/auth/probe.ts', '../http/errors.js'],
    ['broker/auth/probe.ts', '../sessions/service.js'],
    ['broker/audit/probe.ts', '../sessions/service.js'],
    ['broker/routes/probe.ts', '../storage/db.js'],
    ['broker/routes/probe.ts', '../sessions/service.js'],
    ['broker/signaling/probe.ts', '../http/errors.js'],
    ['broker/http/probe.ts', '../sessions/service.js'],
    // A top-level helper (they are listed by name in the config).
    ['broker/turn.ts', './sessions/service.js'],
  ];
  it.each(refused)('%s may not import %s', async (file, from) => {
    expect(await refusals(file, from)).toHaveLength(1);
  });

  const allowed: [file: string, from: string][] = [
    ['broker/storage/probe.ts', './schema.js'],
    ['broker/storage/probe.ts', '../../common/session-state.js'],
    ['broker/sessions/probe.ts', '../domain-errors.js'],
    ['broker/sessions/probe.ts', '../auth/account.js'],
    ['broker/sessions/probe.ts', '../storage/schema.js'],
    ['broker/routes/probe.ts', '../http/registry.js'],
    ['broker/routes/probe.ts', '../context.js'],
    ['broker/signaling/probe.ts', '../sessions/events.js'],
    ['broker/http/probe.ts', 'fastify'],
    ['broker/app.ts', './sessions/service.js'],
  ];
  it.each(allowed)('%s may import %s', async (file, from) => {
    expect(await refusals(file, from)).toEqual([]);
  });
});

import type { z } from 'zod';
import { badRequest } from './errors.js';

/** Parses untrusted input through a schema; the first problem becomes a clear 400. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what = 'body'): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length ? ` at ${issue.path.join('.')}` : '';
    throw badRequest(`invalid ${what}${where}: ${issue?.message ?? 'does not match the schema'}`, 'invalid_' + what);
  }
  return r.data;
}

import type { CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { Database } from './schema.js';
import { sqliteRunNow } from './sqlite-fast-path.js';

/**
 * A query the broker runs on every request (the session by id, the account behind an access
 * token) built and compiled once per dialect, then run with each call's values. Building and
 * compiling a Kysely query costs more CPU than SQLite takes to run one of these (node objects,
 * freezes, a visitor pass, about 15 µs each), and a lifecycle runs dozens of them. The SQL
 * text is the one Kysely makes; only the values change, bound as parameters exactly as before.
 *
 * `build` (a query builder or a `sql` template) receives `p(name)`, a stand-in for that call's value. A stand-in must be used as a
 * plain bound value (a comparison's right side, an inserted or set value), never inside a list
 * whose length varies; anything else in the query is fixed when it is first compiled.
 */
export interface Prepared<P extends object, R> {
  all(db: Kysely<Database>, params: P): Promise<R[]>;
  first(db: Kysely<Database>, params: P): Promise<R | undefined>;
  run(db: Kysely<Database>, params: P): Promise<QueryResult<R>>;
}

const STAND_IN = '\u0000chaperone-param\u0000';

type Slot<P> = { name: keyof P } | { value: unknown };

interface Compiled<P> {
  query: CompiledQuery;
  slots: Slot<P>[];
}

export function prepared<P extends object, R>(build: (db: Kysely<Database>, p: <K extends keyof P>(name: K) => P[K]) => { compile(db: Kysely<Database>): CompiledQuery<R> }): Prepared<P, R> {
  // Keyed by the dialect's adapter, which a Kysely instance shares with its transactions.
  const byAdapter = new WeakMap<object, Compiled<P>>();
  const compile = (db: Kysely<Database>): Compiled<P> => {
    const adapter = db.getExecutor().adapter;
    let c = byAdapter.get(adapter);
    if (!c) {
      const names = new Set<keyof P>();
      const query = build(db, (name) => {
        names.add(name);
        return `${STAND_IN}${String(name)}` as never;
      }).compile(db);
      const slots: Slot<P>[] = query.parameters.map((v) => (typeof v === 'string' && v.startsWith(STAND_IN) ? { name: v.slice(STAND_IN.length) as keyof P } : { value: v }));
      // A stand-in Kysely did not pass through as a parameter would be run as its own text: refuse.
      if (slots.filter((s) => 'name' in s).length < names.size || query.sql.includes(STAND_IN)) throw new Error('prepared query: a parameter is not a plain bound value');
      c = { query, slots };
      byAdapter.set(adapter, c);
    }
    return c;
  };
  const run = async (db: Kysely<Database>, params: P): Promise<QueryResult<R>> => {
    const c = compile(db);
    const parameters = c.slots.map((s) => ('name' in s ? params[s.name] : s.value));
    // Outside a transaction, on SQLite, at once when its connection is free (sqlite-fast-path.ts).
    const now = db.isTransaction ? null : sqliteRunNow(db.getExecutor().adapter)?.tryRun(c.query.sql, parameters);
    return (now ?? (await db.executeQuery({ ...c.query, parameters }))) as QueryResult<R>;
  };
  return {
    run,
    all: async (db, params) => (await run(db, params)).rows,
    first: async (db, params) => (await run(db, params)).rows[0],
  };
}

type Tables = keyof Database;
type InsertParams = Record<string, unknown>;
const inserts = new Map<string, Prepared<InsertParams, never> | null>();

/**
 * `insertInto(table).values(row)` (optionally `on conflict (col) do nothing`), compiled once for
 * each set of columns a call site writes: the code has few. Columns whose value is undefined are
 * left out, as Kysely does; a row holding anything but plain values (an SQL expression, a
 * buffer) is built as before.
 */
export async function insertRow<T extends Tables>(db: Kysely<Database>, table: T, row: Record<string, unknown>, ignoreConflictOn?: string): Promise<void> {
  const cols = Object.keys(row).filter((k) => row[k] !== undefined);
  const plain = cols.every((k) => typeof row[k] !== 'object' || row[k] === null);
  const key = `${table}|${ignoreConflictOn ?? ''}|${cols.join(',')}`;
  let ins = plain ? inserts.get(key) : null;
  if (ins === undefined) {
    ins =
      inserts.size >= 64
        ? null
        : prepared<InsertParams, never>((d, p) => {
            const q = d.insertInto(table).values(Object.fromEntries(cols.map((c) => [c, p(c)])) as never);
            return ignoreConflictOn ? q.onConflict((oc) => oc.column(ignoreConflictOn as never).doNothing()) : q;
          });
    if (ins) inserts.set(key, ins);
  }
  if (ins) {
    await ins.run(db, row);
    return;
  }
  const q = db.insertInto(table).values(row as never);
  await (ignoreConflictOn ? q.onConflict((oc) => oc.column(ignoreConflictOn as never).doNothing()) : q).execute();
}

/**
 * A statement whose bound values are exactly `names`, in that order (a multi-row insert), run with
 * the values as one array: no object of named values per call, which for a batch of rows cost
 * more than the statement. Checked when first compiled: Kysely must bind the stand-ins in order.
 */
export function preparedOrdered(names: readonly string[], build: (db: Kysely<Database>, p: (name: string) => unknown) => { compile(db: Kysely<Database>): CompiledQuery }): { run(db: Kysely<Database>, values: readonly unknown[]): Promise<QueryResult<never>> } {
  const byAdapter = new WeakMap<object, CompiledQuery>();
  return {
    async run(db, values) {
      const adapter = db.getExecutor().adapter;
      let query = byAdapter.get(adapter);
      if (!query) {
        const q = build(db, (name) => `${STAND_IN}${name}`).compile(db);
        const inOrder = q.parameters.length === names.length && q.parameters.every((v, i) => v === `${STAND_IN}${names[i]}`);
        if (!inOrder || q.sql.includes(STAND_IN)) throw new Error('prepared query: the values are not bound in the order given');
        query = q;
        byAdapter.set(adapter, q);
      }
      if (values.length !== names.length) throw new Error('prepared query: wrong number of values');
      return (await db.executeQuery({ ...query, parameters: values })) as QueryResult<never>;
    },
  };
}

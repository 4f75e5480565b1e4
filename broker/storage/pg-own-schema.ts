import { PostgresDialect, PostgresIntrospector, sql, type DatabaseIntrospector, type DatabaseMetadata, type Kysely, type SchemaMetadata, type TableMetadata } from 'kysely';

/**
 * PostgreSQL with an introspector that looks only at the broker's own schema (the first of the
 * connection's search_path). Kysely's own lists the tables of every schema in the database and
 * calls has_schema_privilege on each: a schema that another broker, test or tool drops during that
 * scan fails it with 3F000 ("schema ... does not exist"), and the migrator asks it several times
 * at every start. What the broker asks (does its migration table exist?) is about its own schema.
 */
export class OwnSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new OwnSchemaIntrospector(db);
  }
}

class OwnSchemaIntrospector implements DatabaseIntrospector {
  private readonly all: PostgresIntrospector;

  constructor(private readonly db: Kysely<any>) {
    this.all = new PostgresIntrospector(db);
  }

  /** Names only (pg_namespace): nothing here can meet a schema dropped meanwhile. */
  getSchemas(): Promise<SchemaMetadata[]> {
    return this.all.getSchemas();
  }

  /** The tables and views of the broker's own schema, with their columns. */
  async getTables(): Promise<TableMetadata[]> {
    const rows = await sql<{ table: string; kind: string; schema: string; column: string; type: string; type_schema: string; not_null: boolean; has_default: boolean; auto: string | null; description: string | null }>`
      SELECT c.relname AS table, c.relkind AS kind, ns.nspname AS schema, a.attname AS column, typ.typname AS type, tns.nspname AS type_schema,
             a.attnotnull AS not_null, a.atthasdef AS has_default,
             pg_get_serial_sequence(quote_ident(ns.nspname) || '.' || quote_ident(c.relname), a.attname) AS auto,
             col_description(a.attrelid, a.attnum) AS description
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum >= 0 AND NOT a.attisdropped
      JOIN pg_catalog.pg_type typ ON typ.oid = a.atttypid
      JOIN pg_catalog.pg_namespace tns ON tns.oid = typ.typnamespace
      WHERE ns.nspname = current_schema() AND c.relkind IN ('r', 'v', 'p')
      ORDER BY c.relname, a.attnum`.execute(this.db);
    const tables = new Map<string, TableMetadata & { columns: TableMetadata['columns'][number][] }>();
    for (const r of rows.rows) {
      let t = tables.get(r.table);
      if (!t) tables.set(r.table, (t = { name: r.table, schema: r.schema, isView: r.kind === 'v', columns: [] }));
      t.columns.push({ name: r.column, dataType: r.type, dataTypeSchema: r.type_schema, isNullable: !r.not_null, hasDefaultValue: r.has_default, isAutoIncrementing: r.auto !== null, ...(r.description !== null ? { comment: r.description } : {}) });
    }
    return [...tables.values()];
  }

  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}

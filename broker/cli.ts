import { parseArgs } from 'node:util';
import { ANALYST_KINDS, ROLES, type AnalystKind, type Role } from '../common/roles.js';
import { AuditLog } from './audit/log.js';
import { AccountService } from './auth/accounts.js';
import { createTokenService } from './auth/tokens.js';
import { startBroker } from './broker.js';
import { defaultDataDir, loadConfig } from './config.js';
import { KeyRing } from './keys.js';
import { SecretBox } from './secret-box.js';
import { openStorage } from './storage/db.js';

const USAGE = `chaperone-broker: the Chaperone broker

Usage:
  chaperone-broker serve [--port 7480] [--host 127.0.0.1] [--data-dir DIR] [--tls-cert FILE --tls-key FILE]
  chaperone-broker user add --username NAME --display-name "Full Name" --roles analyst[,approver,admin,auditor,supervisor]
                            [--organisation ORG] [--kind internal|vendor|incident_responder] [--no-totp] [--data-dir DIR] [--json]
  chaperone-broker user list [--data-dir DIR] [--json]
  chaperone-broker user disable --username NAME [--data-dir DIR] [--json]
  chaperone-broker user enable --username NAME [--data-dir DIR] [--json]
  chaperone-broker user unlock --username NAME [--data-dir DIR] [--json]
  chaperone-broker user roles --username NAME --roles analyst[,approver,admin,auditor,supervisor] [--data-dir DIR] [--json]
  chaperone-broker user reset-password --username NAME [--data-dir DIR] [--json]
  chaperone-broker audit verify [--data-dir DIR | --file EXPORT.jsonl [--jwks JWKS.json]] [--json]
  chaperone-broker audit export [--data-dir DIR] [--out FILE] [--since-seq N]
  chaperone-broker keys rotate [--data-dir DIR]
  chaperone-broker evidence export --session ID --out FILE [--data-dir DIR]
  chaperone-broker evidence verify FILE [--json]      (exit 0 intact, 2 tampered, naming what)

Disabling an account, taking a role away or resetting its password refuses every token it holds
at once; a running broker ends its live sessions within a second.
DATABASE_URL=postgres://... selects PostgreSQL instead of the SQLite file in the data dir.
REDIS_URL=redis://... (with DATABASE_URL) runs serve as one instance of a cluster behind a load
balancer (docs/operations.md); REDIS_PREFIX names its keys (default chaperone:),
CHAPERONE_INSTANCE_ID this instance (default: pid and random). CHAPERONE_PG_SCHEMA puts the
broker's tables in that PostgreSQL schema (default: the connection's search path).
The data dir defaults to $CHAPERONE_DATA_DIR or ~/.chaperone/broker.
`;

class UsageError extends Error {}

function opts(argv: string[], extra: Record<string, { type: 'string' | 'boolean' }> = {}) {
  try {
    return parseArgs({
      args: argv,
      options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' }, ...extra },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

async function withAccounts<T>(dataDir: string, fn: (a: AccountService) => Promise<T>): Promise<T> {
  const cfg = loadConfig({ dataDir, databaseUrl: process.env.DATABASE_URL });
  const storage = await openStorage({ dataDir, databaseUrl: cfg.databaseUrl });
  const { ring } = KeyRing.load(dataDir, 3600_000);
  const audit = new AuditLog(storage, ring, dataDir);
  try {
    return await fn(new AccountService(cfg, storage, audit, createTokenService(ring, cfg.issuer), Date.now, SecretBox.load(dataDir)));
  } finally {
    await audit.close();
    await storage.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  try {
    if (!cmd || cmd === '--help' || cmd === 'help') {
      process.stdout.write(USAGE);
      return cmd ? 0 : 64;
    }
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (cmd === 'serve') return await serve([sub, ...rest].filter((x): x is string => x !== undefined));
    if (cmd === 'user') return await user(sub, rest);
    if (cmd === 'audit') return await audit(sub, rest);
    if (cmd === 'evidence') return await evidence(sub, rest);
    if (cmd === 'keys' && sub === 'rotate') {
      const o = opts(rest);
      const dataDir = str(o['data-dir']) ?? defaultDataDir();
      const { ring } = KeyRing.load(dataDir, 3600_000);
      const prev = ring.active.kid;
      const k = ring.rotate();
      process.stdout.write(`new signing key ${k.kid} (previous ${prev} stays published until its tokens expire; restart or reload running brokers)\n`);
      return 0;
    }
    throw new UsageError(`unknown command: ${argv.join(' ')}`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n\n${USAGE}`);
      return 64;
    }
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}

async function serve(argv: string[]): Promise<number> {
  const o = opts(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'print-console': { type: 'boolean' },
  });
  const port = o.port === undefined ? 7480 : Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
  const dataDir = str(o['data-dir']) ?? defaultDataDir();
  const broker = await startBroker({
    dataDir,
    port,
    host: str(o.host),
    tlsCert: str(o['tls-cert']),
    tlsKey: str(o['tls-key']),
    databaseUrl: process.env.DATABASE_URL,
    pgSchema: process.env.CHAPERONE_PG_SCHEMA,
    redisUrl: process.env.REDIS_URL,
    redisPrefix: process.env.REDIS_PREFIX,
    instanceId: process.env.CHAPERONE_INSTANCE_ID,
  });
  const cluster = broker.ctx.cluster ? `, cluster instance ${broker.ctx.cluster.nodeId}` : '';
  const lines = [`chaperone-broker listening on ${broker.url} (data dir ${dataDir}, ${broker.ctx.storage.engine}${cluster})`];
  if (broker.firstRun) {
    lines.push(
      '',
      'First run: an admin account was created. These credentials are shown ONCE:',
      `  username:            ${broker.firstRun.username}`,
      `  one-time password:   ${broker.firstRun.one_time_password}   (must be changed at first sign-in)`,
      `  TOTP secret:         ${broker.firstRun.totp_secret ?? '(none)'}`,
      `  TOTP URI:            ${broker.firstRun.otpauth_uri ?? '(none)'}`,
      '',
    );
  }
  if (o['print-console']) {
    lines.push(`Console: ${broker.url}/openapi.json (API), ${broker.url}/healthz, ${broker.url}/metrics`);
    lines.push(`Ticket webhook secret: ${dataDir}/ticket-webhook.secret`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await broker.close();
  return 0;
}

async function user(sub: string | undefined, argv: string[]): Promise<number> {
  if (sub === 'add') {
    const o = opts(argv, {
      username: { type: 'string' },
      'display-name': { type: 'string' },
      roles: { type: 'string' },
      organisation: { type: 'string' },
      kind: { type: 'string' },
      'no-totp': { type: 'boolean' },
    });
    const username = str(o.username);
    const roles = (str(o.roles) ?? '').split(',').filter(Boolean);
    if (!username || roles.length === 0) throw new UsageError('user add needs --username and --roles');
    const bad = roles.filter((r) => !ROLES.includes(r as Role));
    if (bad.length) throw new UsageError(`unknown role ${bad.join(', ')}; roles are ${ROLES.join(', ')}`);
    const kind = str(o.kind) ?? 'internal';
    if (!ANALYST_KINDS.includes(kind as AnalystKind)) throw new UsageError(`--kind must be one of ${ANALYST_KINDS.join(', ')}`);
    const dataDir = str(o['data-dir']) ?? defaultDataDir();
    const created = await withAccounts(dataDir, (a) =>
      a.create(
        {
          username,
          display_name: str(o['display-name']) ?? username,
          organisation: str(o.organisation) ?? loadConfig({ dataDir }).policy.organisation,
          kind: kind as AnalystKind,
          roles: roles as Role[],
          totp: !o['no-totp'],
        },
        'cli',
      ),
    );
    if (o.json) process.stdout.write(JSON.stringify(created) + '\n');
    else {
      process.stdout.write(
        [
          `created ${username} (${roles.join(', ')}, ${kind})`,
          `  one-time password: ${created.one_time_password}   (shown once; must be changed at first sign-in)`,
          `  TOTP secret:       ${created.totp_secret ?? '(none)'}`,
          `  TOTP URI:          ${created.otpauth_uri ?? '(none)'}`,
        ].join('\n') + '\n',
      );
    }
    return 0;
  }
  if (sub === 'list') {
    const o = opts(argv);
    const users = await withAccounts(str(o['data-dir']) ?? defaultDataDir(), (a) => a.list());
    if (o.json) process.stdout.write(JSON.stringify(users) + '\n');
    else {
      const row = (cols: string[]) => `${cols[0]!.padEnd(20)} ${cols[1]!.padEnd(28)} ${cols[2]!.padEnd(18)} ${cols[3]!.padEnd(20)} ${cols[4]}\n`;
      process.stdout.write(row(['USERNAME', 'ROLES', 'KIND', 'STATUS', 'DISPLAY NAME']));
      for (const u of users) {
        const status = [u.disabled ? 'DISABLED' : 'active', ...(u.locked ? ['locked'] : []), ...(u.totp ? [] : ['no TOTP'])].join(', ');
        process.stdout.write(row([u.username, u.roles.join(','), u.kind, status, u.display_name]));
      }
    }
    return 0;
  }
  if (sub === 'enable' || sub === 'unlock') {
    const o = opts(argv, { username: { type: 'string' } });
    const username = str(o.username);
    if (!username) throw new UsageError(`user ${sub} needs --username`);
    const dir = str(o['data-dir']) ?? defaultDataDir();
    if (sub === 'enable') {
      const done = await withAccounts(dir, (a) => a.enable(username, 'cli'));
      if (o.json) process.stdout.write(JSON.stringify(done) + '\n');
      else process.stdout.write(done.was_disabled ? `enabled ${username}: they can sign in again\n` : `${username} was not disabled; nothing changed\n`);
    } else {
      const done = await withAccounts(dir, (a) => a.unlock(username, 'cli'));
      if (o.json) process.stdout.write(JSON.stringify(done) + '\n');
      else process.stdout.write(done.was_locked ? `unlocked ${username}: they can try to sign in again now\n` : `${username} was not locked; nothing changed\n`);
    }
    return 0;
  }
  if (sub === 'disable') {
    const o = opts(argv, { username: { type: 'string' } });
    const username = str(o.username);
    if (!username) throw new UsageError('user disable needs --username');
    await withAccounts(str(o['data-dir']) ?? defaultDataDir(), (a) => a.disable(username, 'cli'));
    process.stdout.write(o.json ? JSON.stringify({ username, disabled: true }) + '\n' : `disabled ${username}\n`);
    return 0;
  }
  if (sub === 'roles') {
    const o = opts(argv, { username: { type: 'string' }, roles: { type: 'string' } });
    const username = str(o.username);
    const roles = (str(o.roles) ?? '').split(',').filter(Boolean);
    if (!username || roles.length === 0) throw new UsageError('user roles needs --username and --roles');
    const bad = roles.filter((r) => !ROLES.includes(r as Role));
    if (bad.length) throw new UsageError(`unknown role ${bad.join(', ')}; roles are ${ROLES.join(', ')}`);
    const done = await withAccounts(str(o['data-dir']) ?? defaultDataDir(), (a) => a.setRoles(username, roles as Role[], 'cli'));
    process.stdout.write(o.json ? JSON.stringify(done) + '\n' : `${username} now has the roles ${done.roles.join(', ')}\n`);
    return 0;
  }
  if (sub === 'reset-password') {
    const o = opts(argv, { username: { type: 'string' } });
    const username = str(o.username);
    if (!username) throw new UsageError('user reset-password needs --username');
    const done = await withAccounts(str(o['data-dir']) ?? defaultDataDir(), (a) => a.resetPassword(username, 'cli'));
    if (o.json) process.stdout.write(JSON.stringify(done) + '\n');
    else process.stdout.write(`${username}: one-time password ${done.one_time_password}   (shown once; must be changed at the next sign-in)\n`);
    return 0;
  }
  throw new UsageError(`unknown user command: ${sub ?? '(none)'}`);
}

async function audit(sub: string | undefined, argv: string[]): Promise<number> {
  if (sub === 'verify') {
    const o = opts(argv, { file: { type: 'string' }, jwks: { type: 'string' } });
    const { runAuditVerify } = await import('./audit/verify.js');
    return runAuditVerify({ dataDir: str(o['data-dir']) ?? defaultDataDir(), databaseUrl: process.env.DATABASE_URL, file: str(o.file), jwks: str(o.jwks), json: Boolean(o.json) });
  }
  if (sub === 'export') {
    const o = opts(argv, { out: { type: 'string' }, 'since-seq': { type: 'string' } });
    const { runAuditExport } = await import('./audit/export.js');
    const since = o['since-seq'] === undefined ? undefined : Number(o['since-seq']);
    if (since !== undefined && (!Number.isInteger(since) || since < 0)) throw new UsageError('--since-seq must be a non-negative integer');
    return runAuditExport({ dataDir: str(o['data-dir']) ?? defaultDataDir(), databaseUrl: process.env.DATABASE_URL, out: str(o.out), sinceSeq: since });
  }
  throw new UsageError(`unknown audit command: ${sub ?? '(none)'}`);
}

async function evidence(sub: string | undefined, argv: string[]): Promise<number> {
  if (sub === 'export') {
    const o = opts(argv, { session: { type: 'string' }, out: { type: 'string' } });
    const sessionId = str(o.session);
    const out = str(o.out);
    if (!sessionId || !out) throw new UsageError('evidence export needs --session ID and --out FILE');
    const { runEvidenceExport } = await import('./audit/evidence-run.js');
    return runEvidenceExport({ dataDir: str(o['data-dir']) ?? defaultDataDir(), databaseUrl: process.env.DATABASE_URL, sessionId, out });
  }
  if (sub === 'verify') {
    const [file, ...more] = argv;
    if (!file || file.startsWith('-')) throw new UsageError('evidence verify needs the bundle: evidence verify FILE');
    const o = opts(more);
    const { runEvidenceVerify } = await import('./audit/evidence-run.js');
    return runEvidenceVerify({ file, json: Boolean(o.json) });
  }
  throw new UsageError(`unknown evidence command: ${sub ?? '(none)'}`);
}

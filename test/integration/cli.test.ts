import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import { freshTotp, tempDir } from '../../kit/broker.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'chaperone-broker.mjs');
/** tsx compiles the broker on every start; give each child process room. */
const SPAWN_TIMEOUT_MS = 45_000;

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // The CLI must use the SQLite file in --data-dir, never a database or data dir from the outer environment.
  delete env.DATABASE_URL;
  delete env.CHAPERONE_DATA_DIR;
  delete env.CHAPERONE_LOG_LEVEL;
  return env;
}

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the command had not exited in time and was killed (SIGKILL, by its PID). */
  timedOut?: boolean;
}

/** Runs one CLI command to completion (or kills it after timeoutMs and says so). */
function runCli(args: string[], timeoutMs = SPAWN_TIMEOUT_MS): Promise<Done> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const t = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A running `serve`: its printed URL and output so far; stop() sends SIGTERM to this PID only. */
interface Server {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<Done>;
  stop(): Promise<Done>;
}

function startServe(args: string[]): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let started = false;
    const exited = new Promise<Done>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
    const t = setTimeout(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
      reject(new Error(`serve did not start within ${SPAWN_TIMEOUT_MS} ms; stdout=${stdout} stderr=${stderr}`));
    }, SPAWN_TIMEOUT_MS);
    const stop = async (): Promise<Done> => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const done = await exited;
      clearTimeout(killer);
      return done;
    };
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      const m = /listening on (https?:\/\/\S+)/.exec(stdout);
      if (m && !started) {
        started = true;
        clearTimeout(t);
        // The banner is one write; give the pipe a moment to deliver all of it.
        setTimeout(() => resolve({ child, url: m[1]!, stdout: () => stdout, stderr: () => stderr, exited, stop }), 300);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    void exited.then((d) => {
      if (!started) {
        clearTimeout(t);
        reject(new Error(`serve exited before listening: ${JSON.stringify(d)}`));
      }
    });
  });
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

// Every test spawns tsx-compiled child processes (a few seconds each, more on a loaded machine).
describe('the chaperone-broker CLI', { timeout: 90_000 }, () => {
  let base: string;
  let dataDir: string;
  const running: Server[] = [];

  beforeAll(() => {
    base = tempDir('chaperone-cli-');
    // A data dir that does not exist yet: the broker creates it (privately).
    dataDir = path.join(base, 'broker-data');
  });
  afterAll(async () => {
    for (const s of running) await s.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage:/m);
    for (const cmd of ['serve', 'user add', 'user list', 'user disable', 'audit verify', 'keys rotate']) expect(r.stdout).toContain(`chaperone-broker ${cmd}`);
  });

  it('without a command it prints the usage and exits 64', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(64);
    expect(r.stdout).toMatch(/Usage:/);
  });

  it('an unknown command or option exits 64 with a message', async () => {
    const a = await runCli(['frobnicate']);
    expect(a.code).toBe(64);
    expect(a.stderr).toMatch(/unknown command: frobnicate/);
    const b = await runCli(['user', 'list', '--data-dir', dataDir + '-x', '--colour']);
    expect(b.code).toBe(64);
    expect(b.stderr).toMatch(/--colour/);
  });

  it('serve --help prints the usage instead of starting a broker', async () => {
    const dir = path.join(base, 'help-only');
    const r = await runCli(['serve', '--help', '--port', '0', '--data-dir', dir], 20_000);
    expect(r.timedOut, `serve --help did not exit; it printed: ${r.stdout}`).toBe(false);
    expect(r.stdout).toMatch(/Usage:/);
    expect(r.code).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
  }, 60_000);

  it('first start: listens on the real port, prints the admin credentials once, keys are private', async () => {
    const s = await startServe(['--port', '0', '--data-dir', dataDir]);
    running.push(s);
    const url = new URL(s.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(Number(url.port)).toBeGreaterThan(0);
    const out = s.stdout();
    expect(out).toContain(`data dir ${dataDir}`);
    expect(out).toMatch(/First run: an admin account was created/);
    const user = /username:\s+(\S+)/.exec(out)?.[1];
    const otp = /one-time password:\s+(\S+)/.exec(out)?.[1];
    const totp = /TOTP secret:\s+([A-Z2-7]+)/.exec(out)?.[1];
    expect(user).toBe('admin');
    expect(otp).toBeTruthy();
    expect(totp).toBeTruthy();
    expect(out).toMatch(/TOTP URI:\s+otpauth:\/\/totp\//);

    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);

    // The printed credentials are the real ones: the admin can replace the one-time password and sign in.
    const api = new ApiClient(s.url);
    const newPassword = 'a-long-enough-admin-password';
    const change = await api.post('/api/v1/auth/password', { username: 'admin', password: otp, totp: freshTotp(totp!), new_password: newPassword });
    expect(change.status, JSON.stringify(change.body)).toBe(200);
    const login = await api.post('/api/v1/auth/login', { username: 'admin', password: newPassword, totp: freshTotp(totp!) });
    expect(login.status, JSON.stringify(login.body)).toBe(200);

    // Secrets on disk are readable by the owner only.
    expect(mode(dataDir)).toBe(0o700);
    const keysDir = path.join(dataDir, 'keys');
    expect(mode(keysDir)).toBe(0o700);
    const keyFiles = fs.readdirSync(keysDir).filter((f) => f.endsWith('.json'));
    expect(keyFiles.length).toBeGreaterThanOrEqual(1);
    for (const f of keyFiles) expect(mode(path.join(keysDir, f)), f).toBe(0o600);
    expect(mode(path.join(dataDir, 'ticket-webhook.secret'))).toBe(0o600);
    expect(mode(path.join(dataDir, 'chaperone.sqlite'))).toBe(0o600);
    for (const f of ['chaperone.sqlite-wal', 'chaperone.sqlite-shm', 'audit-head.json']) {
      if (fs.existsSync(path.join(dataDir, f))) expect(mode(path.join(dataDir, f)), f).toBe(0o600);
    }

    const done = await s.stop();
    expect(done.code).toBe(0);
    expect(s.child.exitCode).toBe(0);
  }, 90_000);

  it('second start: the same data dir, no credentials printed again', async () => {
    const s = await startServe(['--port', '0', '--data-dir', dataDir]);
    running.push(s);
    expect(s.stdout()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(s.stdout()).not.toMatch(/First run|one-time password|TOTP secret/);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    const done = await s.stop();
    expect(done.code).toBe(0);
    expect(done.stdout).not.toMatch(/one-time password/);
  }, 90_000);

  it('serve --host 0.0.0.0 without TLS refuses to start with a clear message', async () => {
    const dir = path.join(base, 'public-bind');
    const r = await runCli(['serve', '--host', '0.0.0.0', '--port', '0', '--data-dir', dir]);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without TLS/);
    expect(r.stderr).toMatch(/--tls-cert/);
    expect(r.stdout).not.toMatch(/listening/);
  }, 60_000);

  it('serve --port out of range exits 64', async () => {
    const r = await runCli(['serve', '--port', '70000', '--data-dir', path.join(base, 'bad-port')]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/--port must be 0\.\.65535/);
  }, 60_000);

  it('user add prints a one-time password and a TOTP URI, once', async () => {
    const r = await runCli(['user', 'add', '--username', 'carol', '--roles', 'analyst,approver', '--display-name', 'Carol', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created carol \(analyst, approver, internal\)/);
    expect(r.stdout).toMatch(/one-time password:\s+\S{8,}/);
    expect(r.stdout).toMatch(/TOTP URI:\s+otpauth:\/\/totp\/[^\s]*carol\?secret=[A-Z2-7]+/);
  }, 60_000);

  it('user add with the same username again fails without changing carol', async () => {
    const r = await runCli(['user', 'add', '--username', 'carol', '--roles', 'admin', '--data-dir', dataDir]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toMatch(/one-time password/);
    const list = await runCli(['user', 'list', '--json', '--data-dir', dataDir]);
    const carol = (JSON.parse(list.stdout) as { username: string; roles: string[] }[]).find((u) => u.username === 'carol');
    expect(carol?.roles).toEqual(['analyst', 'approver']);
  }, 90_000);

  it('user list shows carol as active', async () => {
    const r = await runCli(['user', 'list', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('carol '));
    expect(line).toBeDefined();
    expect(line).toMatch(/analyst,approver/);
    expect(line).toMatch(/\bactive\b/);
    expect(line).toMatch(/Carol$/);
    expect(r.stdout.split('\n').some((l) => l.startsWith('admin '))).toBe(true);
  }, 60_000);

  it('user disable then list shows carol DISABLED', async () => {
    const d = await runCli(['user', 'disable', '--username', 'carol', '--data-dir', dataDir]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/disabled carol/);
    const r = await runCli(['user', 'list', '--data-dir', dataDir]);
    const line = r.stdout.split('\n').find((l) => l.startsWith('carol '));
    expect(line).toMatch(/DISABLED/);
    const admin = r.stdout.split('\n').find((l) => l.startsWith('admin '));
    expect(admin).toMatch(/\bactive\b/);
  }, 90_000);

  it('user list starts with a header row; user enable lets carol in again (and --json says what changed)', async () => {
    const r = await runCli(['user', 'list', '--data-dir', dataDir]);
    expect(r.stdout.split('\n')[0]).toMatch(/^USERNAME\s+ROLES\s+KIND\s+STATUS\s+DISPLAY NAME$/);
    const e = await runCli(['user', 'enable', '--username', 'carol', '--json', '--data-dir', dataDir]);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout)).toEqual({ username: 'carol', was_disabled: true });
    const again = await runCli(['user', 'enable', '--username', 'carol', '--data-dir', dataDir]);
    expect(again.stdout).toBe('carol was not disabled; nothing changed\n');
    const list = await runCli(['user', 'list', '--data-dir', dataDir]);
    expect(list.stdout.split('\n').find((l) => l.startsWith('carol '))).toMatch(/\bactive\b/);
  }, 120_000);

  it('user unlock lifts a sign-in lockout at once; reset-password prints a new one-time password once', async () => {
    // The lockout as the broker leaves it after too many wrong passwords (broker/auth/accounts.ts).
    const { default: Sqlite } = await import('better-sqlite3');
    const db = new Sqlite(path.join(dataDir, 'chaperone.sqlite'));
    db.prepare('UPDATE accounts SET failed_logins = 5, locked_until = ? WHERE username = ?').run(Date.now() + 15 * 60_000, 'carol');
    db.close();
    const before = await runCli(['user', 'list', '--data-dir', dataDir]);
    expect(before.stdout.split('\n').find((l) => l.startsWith('carol '))).toMatch(/active, locked/);
    const u = await runCli(['user', 'unlock', '--username', 'carol', '--data-dir', dataDir]);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toBe('unlocked carol: they can try to sign in again now\n');
    const after = await runCli(['user', 'list', '--json', '--data-dir', dataDir]);
    expect((JSON.parse(after.stdout) as { username: string; locked: boolean }[]).find((x) => x.username === 'carol')?.locked).toBe(false);
    const p = await runCli(['user', 'reset-password', '--username', 'carol', '--json', '--data-dir', dataDir]);
    expect(p.code, p.stderr).toBe(0);
    const otp = (JSON.parse(p.stdout) as { one_time_password: string }).one_time_password;
    expect(otp.length).toBeGreaterThanOrEqual(12);
    const listed = await runCli(['user', 'list', '--json', '--data-dir', dataDir]);
    expect(listed.stdout).not.toContain(otp);
    // (--json on disable is the same shape; carol is disabled once only, a later test counts on it.)
    const roles = await runCli(['user', 'roles', '--username', 'carol', '--roles', 'analyst,approver', '--json', '--data-dir', dataDir]);
    expect(JSON.parse(roles.stdout)).toEqual({ username: 'carol', roles: ['analyst', 'approver'] });
  }, 150_000);

  it('user disable of an unknown account fails with a message', async () => {
    const r = await runCli(['user', 'disable', '--username', 'nobody', '--data-dir', dataDir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nobody/);
  }, 60_000);

  it('user add with an unknown role exits 64 and names the role', async () => {
    const r = await runCli(['user', 'add', '--username', 'dave', '--roles', 'analyst,superuser', '--data-dir', dataDir]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/unknown role superuser/);
    expect(r.stderr).toMatch(/analyst, approver, admin, auditor/);
    const list = await runCli(['user', 'list', '--data-dir', dataDir]);
    expect(list.stdout).not.toMatch(/^dave /m);
  }, 90_000);

  it('user add without --roles exits 64', async () => {
    const r = await runCli(['user', 'add', '--username', 'erin', '--data-dir', dataDir]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/--roles/);
  }, 60_000);

  it('audit verify exits 0 on the intact log of everything above', async () => {
    const r = await runCli(['audit', 'verify', '--data-dir', dataDir]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/audit log intact: \d+ events/);
    const j = await runCli(['audit', 'verify', '--json', '--data-dir', dataDir]);
    expect(j.code).toBe(0);
    const res = JSON.parse(j.stdout) as { ok: boolean; events: number };
    expect(res.ok).toBe(true);
    // broker started/stopped twice, the admin and carol created, carol disabled, sign-in events...
    expect(res.events).toBeGreaterThanOrEqual(8);
  }, 90_000);

  it('audit verify exits 2 and names the event once one was edited in the database', async () => {
    const copy = path.join(base, 'tampered');
    fs.cpSync(dataDir, copy, { recursive: true });
    const { default: Sqlite } = await import('better-sqlite3');
    const db = new Sqlite(path.join(copy, 'chaperone.sqlite'));
    const changed = db.prepare("UPDATE audit_events SET actor = 'account:mallory' WHERE type = 'account.disabled'").run();
    db.close();
    expect(changed.changes).toBe(1);
    const r = await runCli(['audit', 'verify', '--data-dir', copy]);
    // README: exit 0 intact, 2 tampered (naming the first bad event).
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/audit log BROKEN at event seq \d+/);
  }, 60_000);

  it('keys rotate writes a new private key file and the log still verifies', async () => {
    const keysDir = path.join(dataDir, 'keys');
    const before = fs.readdirSync(keysDir).filter((f) => f.endsWith('.json'));
    const r = await runCli(['keys', 'rotate', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/new signing key \S+ \(previous \S+ stays published/);
    const after = fs.readdirSync(keysDir).filter((f) => f.endsWith('.json'));
    expect(after.length).toBe(before.length + 1);
    for (const f of after) expect(mode(path.join(keysDir, f)), f).toBe(0o600);
    const v = await runCli(['audit', 'verify', '--data-dir', dataDir]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 90_000);

  it('serve refuses a broker.json with an unknown key, naming it', async () => {
    const dir = path.join(base, 'bad-config');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'broker.json'), JSON.stringify({ policy: { require_open_ticket: true }, polcy_typo: 1 }));
    const r = await runCli(['serve', '--port', '0', '--data-dir', dir]);
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broker\.json/);
    expect(r.stderr).toMatch(/polcy_typo/);
    expect(r.stdout).not.toMatch(/listening/);
  }, 60_000);

  it('user add while the broker is running: the broker sees the account and the log stays intact', async () => {
    const s = await startServe(['--port', '0', '--data-dir', dataDir]);
    running.push(s);
    const add = await runCli(['user', 'add', '--username', 'frank', '--roles', 'auditor', '--display-name', 'Frank', '--data-dir', dataDir]);
    expect(add.code, add.stderr).toBe(0);
    const otp = /one-time password:\s+(\S+)/.exec(add.stdout)?.[1];
    const totp = /TOTP secret:\s+([A-Z2-7]+)/.exec(add.stdout)?.[1];
    const api = new ApiClient(s.url);
    const change = await api.post('/api/v1/auth/password', { username: 'frank', password: otp, totp: freshTotp(totp!), new_password: 'frank-has-a-long-password' });
    expect(change.status, JSON.stringify(change.body)).toBe(200);
    const done = await s.stop();
    expect(done.code).toBe(0);
    const v = await runCli(['audit', 'verify', '--data-dir', dataDir]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 120_000);
});

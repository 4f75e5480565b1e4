import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './cluster.js';

/**
 * A private PostgreSQL server in a temporary folder on its own port, for fault tests that stop
 * and start it: the machine's shared server is never touched. PostgreSQL refuses to run as root,
 * so as root the server runs as the `postgres` account the Debian package made.
 */

function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return null;
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : null;
}

/** Why a private server cannot run here, or null when it can. */
export function privatePostgresMissing(): string | null {
  if (!binDir()) return 'no PostgreSQL server binaries under /usr/lib/postgresql (Debian package postgresql)';
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root without a postgres account to run the server as';
  if (process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0) return 'running as root without setpriv (util-linux) to run the server as postgres';
  return null;
}

/** setpriv execs in place (runuser would fork and not pass signals on), so a signal to the child reaches the server. */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args]] : [cmd, args];
}

export class PrivatePostgres {
  proc: ChildProcess | null = null;
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const bin = binDir();
    if (!bin) throw new Error(privatePostgresMissing() ?? 'no PostgreSQL');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-pg-'));
    if (process.getuid?.() === 0) spawnSync('chown', ['postgres:postgres', dir]);
    const [cmd, args] = asServerUser(path.join(bin, 'initdb'), ['-D', path.join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    const init = spawnSync(cmd, args, { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    const pg = new PrivatePostgres(dir, await freePort(), bin);
    await pg.up();
    return pg;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async up(): Promise<void> {
    // fsync off: a test server holds nothing worth an OS crash; the socket folder is the data dir's own.
    const [cmd, args] = asServerUser(path.join(this.bin, 'postgres'), ['-D', path.join(this.dir, 'data'), '-p', String(this.port), '-h', '127.0.0.1', '-k', this.dir, '-c', 'fsync=off']);
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`postgres did not start: ${out}`)), 20_000);
      const watch = (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready to accept connections')) {
          clearTimeout(t);
          resolve();
        }
      };
      p.stdout!.on('data', watch);
      p.stderr!.on('data', watch);
      p.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`postgres exited ${code}: ${out}`));
      });
    });
  }

  /** Stops the server the hard way (SIGKILL of the postmaster, as a crash would): clients see their connections cut. */
  async down(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    // SIGQUIT: the postmaster's immediate shutdown, as close to a crash as leaves a clean restart.
    p.kill('SIGQUIT');
    await gone;
  }

  async remove(): Promise<void> {
    await this.down();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

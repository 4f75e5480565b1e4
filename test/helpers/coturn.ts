/**
 * Starts a private coturn (Debian's `turnserver`) on loopback for one test file, configured the way
 * the broker expects production to be: TURN REST API shared secret, no TLS, and peers limited to
 * 127.0.0.0/8 so a test can never make it relay anywhere else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stunBinding } from './stun-client.js';

export const TURNSERVER_PATH = '/usr/bin/turnserver';

/** What is missing to run coturn here, for skipWithout (test/helpers/needs-tools.ts). */
export function missingTurnserver(): string[] {
  return turnserverAvailable() ? [] : [`${TURNSERVER_PATH} (apt-get install coturn)`];
}

export function turnserverAvailable(): boolean {
  try {
    fs.accessSync(TURNSERVER_PATH, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface Coturn {
  url: string;
  port: number;
  secret: string;
  realm: string;
  /** Relay ports coturn may hand out, inclusive. */
  relayPorts: { min: number; max: number };
  logFile: string;
  pid: number;
  /** The last lines of coturn's log, for failure messages. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

// Everything but 127.0.0.0/8, in both families: allow-loopback-peers alone would still let a
// relay reach any other address this machine can route to.
const DENIED_PEER_RANGES = [
  '0.0.0.0-126.255.255.255',
  '128.0.0.0-255.255.255.255',
  '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
];

function canBindUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function canBindTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A random port free on both UDP and TCP. Random rather than OS-assigned because coturn needs the
 * same number on both protocols, and random keeps parallel test files from racing for one port.
 */
async function freeUdpTcpPort(lo: number, hi: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = crypto.randomInt(lo, hi);
    if ((await canBindUdp(port)) && (await canBindTcp(port))) return port;
  }
  throw new Error(`no port free on both UDP and TCP in ${lo}-${hi} after 50 tries`);
}

/** A run of `count` consecutive ports all free on UDP, for coturn's relay range. */
async function freeUdpRange(lo: number, hi: number, count: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = crypto.randomInt(lo, hi - count);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await canBindUdp(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free UDP ports in ${lo}-${hi} after 50 tries`);
}

function readTail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log file)';
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** `port`: listen there (a relay restarted in place, as after an outage); by default a free one. */
export async function startCoturn(opts: { secret?: string; realm?: string; readyTimeoutMs?: number; relayPortCount?: number; port?: number } = {}): Promise<Coturn> {
  if (!turnserverAvailable()) throw new Error(`${TURNSERVER_PATH} not found: apt-get install coturn`);
  const secret = opts.secret ?? crypto.randomBytes(24).toString('base64url');
  const realm = opts.realm ?? 'chaperone.test';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
  const relayCount = opts.relayPortCount ?? 16;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-coturn-'));
  const port = opts.port ?? (await freeUdpTcpPort(20_000, 30_000));
  const relayMin = await freeUdpRange(40_000, 60_000, relayCount);
  const relayMax = relayMin + relayCount - 1;
  const logFile = path.join(dir, 'turnserver.log');
  const confFile = path.join(dir, 'turnserver.conf');

  const conf = [
    `listening-ip=127.0.0.1`,
    `relay-ip=127.0.0.1`,
    `listening-port=${port}`,
    `min-port=${relayMin}`,
    `max-port=${relayMax}`,
    `realm=${realm}`,
    `use-auth-secret`,
    `static-auth-secret=${secret}`,
    `allow-loopback-peers`,
    ...DENIED_PEER_RANGES.map((r) => `denied-peer-ip=${r}`),
    // Explicitly allowed ranges win over denied ones in coturn: the relays talk to each other on loopback.
    `allowed-peer-ip=127.0.0.1-127.255.255.255`,
    `no-multicast-peers`,
    `no-tls`,
    `no-dtls`,
    `no-cli`,
    // One listening address cannot do RFC 5780, and without this coturn also wants port+1.
    `no-rfc5780`,
    `fingerprint`,
    // Own files for everything coturn would otherwise put in /var, so parallel instances never share.
    `pidfile=${path.join(dir, 'turnserver.pid')}`,
    `userdb=${path.join(dir, 'turndb')}`,
    `log-file=${logFile}`,
    `simple-log`,
    `no-stdout-log`,
    `verbose`,
    '',
  ].join('\n');
  fs.writeFileSync(confFile, conf, { mode: 0o600 });

  const child = spawn(TURNSERVER_PATH, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    if (stderr.length < 8192) stderr += d;
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${TURNSERVER_PATH}`);

  // A worker that dies without running afterAll must not leave coturn behind holding ports.
  const killOnExit = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
        const graceful = await Promise.race([exited(child).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
        if (!graceful) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
          await exited(child);
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const deadline = Date.now() + readyTimeoutMs;
  let lastError: unknown = null;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const tail = readTail(logFile, 30);
      await stop();
      throw new Error(`turnserver exited before answering STUN (code ${child.exitCode}, signal ${child.signalCode})\nstderr: ${stderr}\nlog:\n${tail}`);
    }
    try {
      await stunBinding('127.0.0.1', port, 300);
      break;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const tail = readTail(logFile, 30);
      await stop();
      throw new Error(`turnserver did not answer a STUN Binding on 127.0.0.1:${port} within ${readyTimeoutMs} ms (${String(lastError)})\nlog:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url: `turn:127.0.0.1:${port}`,
    port,
    secret,
    realm,
    relayPorts: { min: relayMin, max: relayMax },
    logFile,
    pid,
    logTail: (lines = 30) => readTail(logFile, lines),
    stop,
  };
}

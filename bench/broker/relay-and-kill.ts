// The broker under relay load with all its sessions live, then the kill switch on them; the
// relay comparison with the baselines runs in between (relay.ts).
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { rawRequest, type BenchApi } from '../lib/api.js';
import { ServerChild } from '../lib/child.js';
import { accountApi, connectBoth, driveToActive, type BenchAccount } from '../lib/lifecycle.js';
import { Keepalive, attachReceiver, type Pair } from '../lib/relay.js';
import { closedAt } from '../lib/signaling.js';
import { mapLimit, round, sleep, summarize, withTimeout, type Summary } from '../lib/stats.js';
import { HEARTBEAT_INTERVAL_MS, PROF_DIR, signalFrame, want, type BrokerBenchOptions, type Shape } from './options.js';
import { closeAll, measureRelays, peerJsTarget, plainWsTarget, relayResult, target, type RelayResult, type RelayTarget } from './relay.js';

interface BrokerPair extends Pair {
  id: string;
  /** Set just before the kill switch closes it on purpose. */
  killing?: boolean;
}

/** Broker sockets that closed before the kill phase (there should be none). */
export const unexpectedCloses: { session: string; role: string; code: number; reason: string; at_s: number; last_frames: string[] }[] = [];
let tearingDown = false;

export interface KillResult {
  kills: number;
  live_sessions_at_start: number;
  sockets_at_start: number;
  closed_ms: Summary;
  session_ended_frame_ms: Summary;
  http_response_ms: Summary;
  close_codes: Record<string, number>;
}

/** Time from the kill POST leaving this process to the frame, and to both sockets closed. */
async function killSwitch(baseUrl: string, admin: BenchApi, pairs: BrokerPair[], kills: number): Promise<KillResult> {
  const closed: number[] = [];
  const ended: number[] = [];
  const http: number[] = [];
  const codes: Record<string, number> = {};
  const now = () => performance.now();
  for (let i = 0; i < kills; i++) {
    const p = pairs[i]!;
    p.killing = true;
    const url = `/api/v1/sessions/${p.id}/kill`;
    const headers = await admin.prepare('POST', url);
    const endedAt = (ws: WebSocket) =>
      new Promise<number>((resolve) => {
        const on = (d: Buffer) => {
          if (d.includes('"session.ended"')) {
            ws.off('message', on);
            resolve(now());
          }
        };
        ws.on('message', on);
      });
    const frames = Promise.all([endedAt(p.a), endedAt(p.b)]);
    const closes = Promise.all([closedAt(p.a, now), closedAt(p.b, now)]);
    const t0 = now();
    const res = rawRequest('POST', `${baseUrl}${url}`, headers, '{}').then((r) => {
      http.push(now() - t0);
      if (r.status !== 200) throw new Error(`kill: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    });
    const [c1, c2] = await withTimeout(closes, 15_000, 'kill: sockets closing');
    closed.push(Math.max(c1.at, c2.at) - t0);
    for (const c of [c1.code, c2.code]) codes[c] = (codes[c] ?? 0) + 1;
    const [f1, f2] = await withTimeout(frames, 1000, 'kill: session.ended frames');
    ended.push(Math.max(f1, f2) - t0);
    await res;
    await sleep(10);
  }
  return {
    kills,
    live_sessions_at_start: pairs.length,
    sockets_at_start: pairs.length * 2,
    closed_ms: summarize(closed),
    session_ended_frame_ms: summarize(ended),
    http_response_ms: summarize(http),
    close_codes: codes,
  };
}

async function startBrokerChild(name: string, o: BrokerBenchOptions, args: string[]): Promise<{ child: ServerChild; url: string; accounts: BenchAccount[] }> {
  const child = new ServerChild(name, 'bench/servers/broker.ts', args, { cpuProfDir: o.cpuProf ? PROF_DIR : undefined, nodeArgs: o.brokerNodeArgs });
  const ready = await child.waitFor<{ url: string; accounts: BenchAccount[] }>('ready');
  return { child, url: ready.url, accounts: ready.accounts };
}

/** Broker with N active sessions, both parties connected; the end users send heartbeats. */
async function brokerTarget(o: BrokerBenchOptions, sh: Shape, started: Promise<{ child: ServerChild; url: string; accounts: BenchAccount[] }>, keepalive: Keepalive) {
  const { child, url, accounts } = await started;
  const pairs: BrokerPair[] = [];
  const admin = accountApi(url, accounts.find((a) => a.roles.includes('admin'))!);
  const analysts = accounts.filter((a) => a.roles.includes('analyst')).map((a) => accountApi(url, a));
  // Sessions are driven to active over HTTP and both parties connect at once: the end user must
  // be heard from within the policy's heartbeat timeout (15 s) or the session ends as peer_lost.
  const t0 = performance.now();
  await mapLimit(
    Array.from({ length: sh.sessions }, (_, i) => i),
    sh.setupConcurrency,
    async (i) => {
      const analyst = analysts[i % analysts.length]!;
      const a = await driveToActive(analyst);
      const [an, eu] = await connectBoth(url, analyst, a);
      attachReceiver(an);
      attachReceiver(eu);
      keepalive.add(eu, '{"type":"heartbeat"}');
      const pair: BrokerPair = { id: a.id, a: an, b: eu, frame: signalFrame };
      // Nothing should close these before the kill phase; if something does, say what and when.
      for (const [role, ws] of [['analyst', an], ['end_user', eu]] as const) {
        const lastFrames: string[] = [];
        ws.on('message', (d: Buffer) => {
          if (d.length < 300) {
            lastFrames.push(d.toString('utf8'));
            if (lastFrames.length > 3) lastFrames.shift();
          }
        });
        ws.once('close', (code: number, reason: Buffer) => {
          if (pair.killing || tearingDown) return;
          unexpectedCloses.push({ session: a.id, role, code, reason: reason.toString(), at_s: round((performance.now() - t0) / 1000, 1), last_frames: [...lastFrames] });
        });
      }
      pairs.push(pair);
    },
  );
  const setupS = (performance.now() - t0) / 1000;
  process.stdout.write(`  chaperone: ${sh.sessions} sessions active and ${pairs.length * 2} sockets authenticated in ${setupS.toFixed(1)} s (${Math.round(sh.sessions / setupS)} sessions/s)\n`);
  return { t: target('chaperone', child, pairs, setupS, `end user heartbeat every ${HEARTBEAT_INTERVAL_MS / 1000} s`, sh.rate), pairs, url, admin };
}

/**
 * The relay comparison and the kill switch. All three servers start together, each in its own
 * process; every socket stays connected throughout; the kill switch runs last, on the broker with
 * all its sessions live.
 */
export async function relayAndKill(o: BrokerBenchOptions, sh: Shape): Promise<{ relay: Record<string, RelayResult>; kill?: KillResult }> {
  const doRelay = want(o, 'relay');
  const brokerChild = startBrokerChild('broker-relay', o, ['--analysts', String(sh.analysts)]);
  const plainChild = doRelay ? new ServerChild('plain-ws', 'bench/servers/plain-ws.ts') : null;
  const peerChild = doRelay ? new ServerChild('peerjs', 'bench/servers/peerjs.ts') : null;
  const probe = doRelay ? new ServerChild('jitter', 'bench/servers/jitter.ts') : null;
  const keepalive = new Keepalive(HEARTBEAT_INTERVAL_MS);
  keepalive.start();
  const targets: RelayTarget[] = [];
  try {
    if (probe) await probe.waitFor('ready');
    const broker = await brokerTarget(o, sh, brokerChild, keepalive);
    targets.push(broker.t);
    if (plainChild) targets.push(await plainWsTarget(sh, plainChild));
    if (peerChild) targets.push(await peerJsTarget(sh, peerChild, keepalive));
    if (doRelay) process.stdout.write(`  baselines connected: plain ws ${round(targets[1]?.connectS ?? NaN, 1)} s, PeerJS ${round(targets[2]?.connectS ?? NaN, 1)} s\n`);
    const out: { relay: Record<string, RelayResult>; kill?: KillResult } = { relay: {} };
    if (doRelay) {
      await o.beforeMeasuring?.();
      await measureRelays(targets, sh, probe);
      for (const t of targets) out.relay[t.server] = relayResult(t);
    }
    if (want(o, 'kill')) {
      // The baselines are done: stop them so the kill switch has the machine to itself.
      for (const t of targets.slice(1)) {
        closeAll(t.pairs);
        await t.child.stop();
      }
      const alive = broker.pairs.filter((p) => p.a.readyState === p.a.OPEN && p.b.readyState === p.b.OPEN);
      if (alive.length !== broker.pairs.length) process.stdout.write(`  WARNING: ${broker.pairs.length - alive.length} sessions lost a socket before the kill phase (see unexpected_closes)\n`);
      out.kill = await killSwitch(broker.url, broker.admin, alive, sh.kills);
      process.stdout.write(`  kill switch: both sockets closed p50 ${out.kill.closed_ms.p50} ms, p99 ${out.kill.closed_ms.p99} ms (${sh.kills} kills, ${alive.length} live sessions)\n`);
    }
    return out;
  } finally {
    tearingDown = true;
    keepalive.stop();
    for (const t of targets) closeAll(t.pairs);
    await Promise.all([brokerChild.then((b) => b.child.stop()).catch(() => undefined), plainChild?.stop(), peerChild?.stop(), probe?.stop()]);
  }
}

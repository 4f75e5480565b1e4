// The relay comparison: a server under test with its connected pairs, rounds that alternate
// between servers, and the two baselines (a plain `ws` relay and the PeerJS server).
import { performance } from 'node:perf_hooks';
import type { ServerChild } from '../lib/child.js';
import { Keepalive, RelayPool, attachReceiver, runPhase, type Pair, type PooledResult } from '../lib/relay.js';
import { nextFrame, openWs, releaseEarly } from '../lib/signaling.js';
import { mapLimit, round } from '../lib/stats.js';
import { HEARTBEAT_INTERVAL_MS, pad, signalFrame, type Shape } from './options.js';

export interface RelayResult {
  server: string;
  sockets: number;
  sessions: number;
  connect_s: number;
  keepalive: string;
  phase_64: PooledResult;
  phase_4k: PooledResult;
  /** The server process while it was being measured (its rounds only). */
  server_cpu_percent: number;
  peak_rss_mib: number;
  load_generator_cpu_percent: number;
}

/** A server under test with its connected pairs, and meters that run only during its own rounds. */
export interface RelayTarget {
  server: string;
  child: ServerChild;
  pairs: Pair[];
  connectS: number;
  keepalive: string;
  pools: Record<number, RelayPool>;
  cpuS: number;
  wallS: number;
  selfCpuS: number;
  peakRss: number;
}

export function target(server: string, child: ServerChild, pairs: Pair[], connectS: number, keepalive: string, rate: number): RelayTarget {
  return { server, child, pairs, connectS, keepalive, pools: { 64: new RelayPool(64, rate), 4096: new RelayPool(4096, rate) }, cpuS: 0, wallS: 0, selfCpuS: 0, peakRss: 0 };
}

interface Jitter {
  seconds: number;
  max_stall_ms: number;
  stalls_over_10ms: number;
  stalled_ms_over_10ms: number;
}

/** One measured round of one server and size, with the server's CPU and RSS sampled meanwhile. */
async function measureRound(t: RelayTarget, size: number, sh: Shape, round: number, probe: ServerChild | null): Promise<void> {
  if (probe) await probe.stats<Jitter>();
  const cpu0 = t.child.cpuSeconds();
  const self0 = process.cpuUsage();
  const w0 = performance.now();
  const rss = setInterval(() => (t.peakRss = Math.max(t.peakRss, t.child.rssMiB())), 200);
  const r = await runPhase(t.pairs, { rate: sh.rate, durationS: sh.roundS, size, label: `${t.server}-${size}-r${round}` });
  clearInterval(rss);
  t.peakRss = Math.max(t.peakRss, t.child.rssMiB());
  t.cpuS += t.child.cpuSeconds() - cpu0;
  const d = process.cpuUsage(self0);
  t.selfCpuS += (d.user + d.system) / 1e6;
  t.wallS += (performance.now() - w0) / 1000;
  t.pools[size]!.add(r, sh.roundS, probe ? await probe.stats<Jitter>() : undefined);
}

export function relayResult(t: RelayTarget): RelayResult {
  return {
    server: t.server,
    sockets: t.pairs.length * 2,
    sessions: t.pairs.length,
    connect_s: round(t.connectS, 2),
    keepalive: t.keepalive,
    phase_64: t.pools[64]!.result(),
    phase_4k: t.pools[4096]!.result(),
    server_cpu_percent: Math.round((t.cpuS / t.wallS) * 100),
    peak_rss_mib: round(t.peakRss, 1),
    load_generator_cpu_percent: Math.round((t.selfCpuS / t.wallS) * 100),
  };
}

/**
 * All servers stay up with every socket connected; rounds alternate between them (in a rotating
 * order) so that the machine's own hiccups (a shared 2-core VM) fall on every server alike.
 */
export async function measureRelays(targets: RelayTarget[], sh: Shape, probe: ServerChild | null): Promise<void> {
  const t0 = performance.now();
  for (const t of targets) if (sh.warmupS > 0) await runPhase(t.pairs, { rate: sh.rate, durationS: sh.warmupS, size: 64 });
  for (let r = 0; r < sh.rounds; r++) {
    for (const size of [64, 4096]) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + r) % targets.length]!;
        await measureRound(t, size, sh, r, probe);
      }
    }
  }
  process.stdout.write(`  ${sh.rounds} rounds x 2 sizes x ${targets.length} servers measured in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  for (const t of targets) {
    const x = relayResult(t);
    process.stdout.write(
      `  ${pad(t.server, 10)} 64 B p50 ${x.phase_64.latency_ms.p50} p99 ${x.phase_64.latency_ms.p99} ms | 4 KiB p50 ${x.phase_4k.latency_ms.p50} p99 ${x.phase_4k.latency_ms.p99} ms | lost ${x.phase_64.lost + x.phase_4k.lost}, not sent (socket closed) ${x.phase_64.skipped_closed + x.phase_4k.skipped_closed} | CPU ${x.server_cpu_percent}% RSS ${x.peak_rss_mib} MiB\n`,
    );
  }
}

export function closeAll(pairs: Pair[]): void {
  for (const p of pairs) {
    p.a.terminate();
    p.b.terminate();
  }
}

export async function plainWsTarget(sh: Shape, child: ServerChild): Promise<RelayTarget> {
  const { url } = await child.waitFor<{ url: string }>('ready');
  const pairs: Pair[] = [];
  const t0 = performance.now();
  await mapLimit(
    Array.from({ length: sh.sessions }, (_, i) => i),
    64,
    async (i) => {
      const [a, b] = await Promise.all([openWs(`${url}/?pair=s${i}`), openWs(`${url}/?pair=s${i}`)]);
      releaseEarly(a);
      releaseEarly(b);
      attachReceiver(a);
      attachReceiver(b);
      pairs.push({ a, b, frame: signalFrame });
    },
  );
  return target('plain_ws', child, pairs, (performance.now() - t0) / 1000, 'none', sh.rate);
}

export async function peerJsTarget(sh: Shape, child: ServerChild, keepalive: Keepalive): Promise<RelayTarget> {
  const { url } = await child.waitFor<{ url: string }>('ready');
  const pairs: Pair[] = [];
  const open = async (id: string) => {
    const ws = await openWs(`${url}?key=peerjs&id=${id}&token=t${id}`);
    const first = await nextFrame(ws);
    if (first?.type !== 'OPEN') throw new Error(`peerjs: expected OPEN, got ${JSON.stringify(first)}`);
    releaseEarly(ws);
    return ws;
  };
  const t0 = performance.now();
  await mapLimit(
    Array.from({ length: sh.sessions }, (_, i) => i),
    64,
    async (i) => {
      const [a, b] = await Promise.all([open(`p${i}a`), open(`p${i}b`)]);
      attachReceiver(a);
      attachReceiver(b);
      keepalive.add(a, '{"type":"HEARTBEAT"}');
      keepalive.add(b, '{"type":"HEARTBEAT"}');
      const toB = `{"type":"OFFER","dst":"p${i}b","payload":{"kind":"offer","sdp":"`;
      const toA = `{"type":"ANSWER","dst":"p${i}a","payload":{"kind":"answer","sdp":"`;
      pairs.push({ a, b, frame: (dir, sdp) => `${dir === 0 ? toB : toA}${sdp}"}}` });
    },
  );
  return target('peerjs', child, pairs, (performance.now() - t0) / 1000, `HEARTBEAT from every socket every ${HEARTBEAT_INTERVAL_MS / 1000} s (as the PeerJS client)`, sh.rate);
}

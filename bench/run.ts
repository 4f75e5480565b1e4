// Benchmark entry point: `npm run bench -- <name> [--quick] [--only a,b] [--cpu-prof]`.
import { parseArgs } from 'node:util';

type Bench = (o: { quick: boolean; only: Set<string>; cpuProf: boolean; instrument: boolean; brokerNodeArgs: string[] }) => Promise<number>;

const BENCHES: Record<string, { about: string; load: () => Promise<Bench> }> = {
  broker: {
    about: 'signaling relay vs plain ws and PeerJS, kill switch, lifecycles/s (SQLite, PostgreSQL), audit append/verify',
    load: async () => (await import('./broker/run.js')).runBrokerBench,
  },
  session: {
    about: 'input latency into Xvfb vs a raw data channel, setup to first frame, kill-switch teardown, local expiry',
    load: async () => (await import('./session.js')).runSessionBench,
  },
  cluster: {
    about: 'three brokers behind HAProxy: relay same vs cross instance, kill switch across instances, CPU per lifecycle vs one broker on PostgreSQL, losing an instance',
    load: async () => (await import('./cluster.js')).runClusterBench,
  },
  app: {
    about: 'the app in Chromium on Xvfb: first remote frame after consent, screen change to pixel on the viewer vs plain pages',
    load: async () => (await import('./app.js')).runAppBench,
  },
  'join-guessing': {
    about: 'join codes: guesses the broker evaluates during one code life from 200 addresses, and the guessing probability from it',
    load: async () => (await import('./join-guessing.js')).runJoinGuessingBench,
  },
  transfer: {
    about: 'a 100 MiB file analyst -> end user through the app vs a bare data channel between the same pages, peak RSS on both sides, clipboard sync X -> analyst',
    load: async () => (await import('./transfer.js')).runTransferBench,
  },
  recording: {
    about: "the end user's recorder in Chromium on Xvfb: bitrate (VP9 and VP8), chunk ack lag, sharer CPU and change to pixel with and without recording, evidence verify throughput (leaves bench/results/evidence-sample.tar)",
    load: async () => (await import('./recording.js')).runRecordingBench,
  },
  monitor: {
    about: "watching a live session: X screen change to a watcher's pixel (recording chunks relayed by the broker, MSE), join to first frame, the sharer's upload without and with 3 watchers, broker CPU per watcher",
    load: async () => (await import('./monitor.js')).runMonitorBench,
  },
};

function usage(): string {
  const names = Object.entries(BENCHES)
    .map(([n, b]) => `  ${n}  ${b.about}`)
    .join('\n');
  return `usage: npm run bench -- <name> [--quick] [--only relay,kill,lifecycle,audit] [--cpu-prof] [--instrument] [--trace-gc] [--broker-node-args '--flag ...']\nknown benchmarks:\n${names}\n`;
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      instrument: { type: 'boolean', default: false },
      'trace-gc': { type: 'boolean', default: false },
      'broker-node-args': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n${usage()}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  process.stdout.write(usage());
  process.exit(0);
}
const name = positionals[0];
const bench = name === undefined ? undefined : BENCHES[name];
if (!bench) {
  process.stderr.write(`${name === undefined ? 'no benchmark named' : `unknown benchmark "${name}"`}; known: ${Object.keys(BENCHES).join(', ')}\n${usage()}`);
  process.exit(2);
}
const run = await bench.load();
const code = await run({ quick: values.quick, only: new Set((values.only ?? '').split(',').filter(Boolean)), cpuProf: values['cpu-prof'], instrument: values.instrument, brokerNodeArgs: [...(values['trace-gc'] ? ['--trace-gc'] : []), ...(values['broker-node-args'] ?? '').split(/\s+/).filter(Boolean)] });
process.exit(code);

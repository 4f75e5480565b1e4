// Server child: the plain `ws` relay baseline. Prints its URL, stops on SIGTERM.
import { startPlainWsRelay } from '../baselines/plain-ws-relay.js';
import { emit } from '../lib/child.js';

const relay = await startPlainWsRelay({ host: '127.0.0.1', port: 0 });
emit({ event: 'ready', url: relay.url, pid: process.pid });
process.on('SIGTERM', () => {
  void relay.close().then(() => process.exit(0));
});

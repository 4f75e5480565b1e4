/**
 * V8 flags the long-running broker runs with. A larger young generation lets the short-lived
 * objects of each relayed frame die in a scavenge instead of being promoted: on the relay bench
 * (2,000 sockets, 4 KiB frames) it moved the p99 from about 35-39 ms to about 25 ms. V8 reads the
 * flag only at start-up, so the launcher re-executes `serve` with it (bin/chaperone-broker.mjs).
 */
export const SERVE_NODE_FLAGS = ['--max-semi-space-size=64'];

// Server child: the PeerJS server (npm `peer`) bound to loopback. Prints its URL, stops on SIGTERM.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PeerServer } from 'peer';
import { emit } from '../lib/child.js';

const server = await new Promise<Server>((resolve) => {
  // Defaults otherwise (key "peerjs", alive_timeout 90 s, concurrent_limit 5000): the clients send
  // HEARTBEAT every 5 s as the PeerJS client library does.
  PeerServer({ port: 0, host: '127.0.0.1', path: '/' }, (s) => resolve(s as Server));
});
const { port } = server.address() as AddressInfo;
emit({ event: 'ready', url: `ws://127.0.0.1:${port}/peerjs`, pid: process.pid });
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});

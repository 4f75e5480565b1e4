#!/usr/bin/env node
// The broker is written in TypeScript and run through tsx, so the CLI needs no build step.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SERVE_NODE_FLAGS } from './serve-node-flags.mjs';

const args = process.argv.slice(2);
const hasFlags = SERVE_NODE_FLAGS.every((f) => process.execArgv.some((a) => a.split('=')[0] === f.split('=')[0]));

if (args[0] === 'serve' && !hasFlags && process.env.CHAPERONE_BROKER_NO_REEXEC !== '1') {
  // V8 flags cannot be set after start-up: run serve again with them, as one unit with this
  // process (signals forwarded, the exit code passed back, and the server exits if this dies).
  // Its own process group, so a Ctrl-C at the terminal reaches it once (forwarded), not twice.
  const child = spawn(process.execPath, [...SERVE_NODE_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 1 : 0);
  });
} else {
  // Started by the launcher above: if it goes away (even SIGKILL), the IPC channel closes and the
  // server must not linger as an orphan holding the port.
  if (process.channel) {
    process.channel.unref();
    process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../broker/cli.ts');
  const code = await main(args);
  process.exitCode = code;
}

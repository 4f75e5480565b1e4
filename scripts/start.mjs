#!/usr/bin/env node
// `npm start`: the broker (embedded SQLite, default data dir and port) and the app served to a
// local Chromium by the browser host, until Ctrl+C. The first run builds the renderer.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
if (!fs.existsSync(path.join(root, 'dist/renderer/index.html'))) {
  process.stdout.write('building the app (first run only)...\n');
  const b = spawnSync('npm', ['run', 'build:renderer', '--silent'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

const port = process.env.CHAPERONE_PORT ?? '7480';
// The app's address stays the same across restarts: a fixed port, and the launch secret kept in
// the app's data dir (main/browser-host/launch-secret.ts), so open tabs and bookmarks keep working.
const appPort = process.env.CHAPERONE_APP_PORT ?? '7481';
const children = [];
const stop = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

const broker = spawn(process.execPath, ['bin/chaperone-broker.mjs', 'serve', '--port', port, '--print-console', ...process.argv.slice(2)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
children.push(broker);
let started = false;
broker.stdout.on('data', (d) => {
  process.stdout.write(d);
  if (started || !String(d).includes('listening on')) return;
  started = true;
  const app = spawn(process.execPath, ['--import', 'tsx', 'main/browser-host/cli.ts', '--broker', `http://127.0.0.1:${port}`, '--port', appPort], { cwd: root, stdio: 'inherit' });
  children.push(app);
  app.on('exit', stop);
});
broker.on('exit', (code) => {
  stop();
  process.exitCode = code ?? 0;
});

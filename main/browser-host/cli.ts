// First, before the rest loads: main/young-generation.ts says why.
import '../young-generation.js';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadMachinePolicyFile } from '../machine-policy/index.js';
import { XclipClipboard } from '../clipboard/xclip.js';
import { X11Displays } from '../displays-x11.js';
import { loadOrCreateLaunchSecret } from './launch-secret.js';
import { startBrowserHost } from './server.js';

/**
 * Runs the app without Electron: the main-process services in this Node process, the renderer
 * in any Chromium pointed at the printed URL (it carries the per-launch secret; open it once).
 *
 *   npm run build:renderer
 *   node --import tsx main/browser-host/cli.ts --broker http://127.0.0.1:7480 [--display :0] [--data-dir DIR] [--port 7481]
 *     The launch secret is kept in DIR/host-secret (0600) and the port is fixed (7481 unless
 *     --port says otherwise; 0 picks a free one), so the printed address survives a restart.
 *     [--machine-policy FILE]   a policy.json as an administrator would deploy it (docs/admin/policy.md):
 *                               its broker replaces --broker; a broken one refuses every session
 */
const { values } = parseArgs({
  options: {
    broker: { type: 'string', default: 'http://127.0.0.1:7480' },
    renderer: { type: 'string', default: path.resolve(import.meta.dirname, '../../dist/renderer') },
    'data-dir': { type: 'string', default: path.join(os.homedir(), '.chaperone', 'app') },
    display: { type: 'string' },
    port: { type: 'string', default: '7481' },
    'machine-policy': { type: 'string' },
  },
});

const machinePolicy = values['machine-policy'] ? await loadMachinePolicyFile(path.resolve(values['machine-policy']), { posixOwnership: false }) : undefined;
if (machinePolicy?.status === 'invalid') process.stderr.write(`chaperone host: ${machinePolicy.message}\n`);

const display = values.display ?? process.env.DISPLAY;
if (!display && process.platform === 'linux') {
  // Without an X display no injector can start: sharing works, control is refused (and said so).
  process.stderr.write('chaperone host: no DISPLAY set, so remote control will be refused on this machine (screen sharing still works). Start with DISPLAY=:0 (or --display :0) to allow control.\n');
}
const host = await startBrowserHost({
  brokerUrl: machinePolicy?.status === 'ok' ? machinePolicy.policy.brokerUrl : values.broker.replace(/\/+$/, ''),
  ...(machinePolicy ? { machinePolicy } : {}),
  rendererDir: values.renderer,
  dataDir: values['data-dir'],
  port: Number(values.port),
  secret: loadOrCreateLaunchSecret(values['data-dir']),
  ...(display
    ? {
        clipboard: new XclipClipboard(display),
        // The browser's picker chooses the monitor; these say which one it gave, for input.
        displays: new X11Displays(display),
        createInjector: async () => {
          const { createInjector } = await import('../injector-factory.js');
          return createInjector(process.platform, { display });
        },
      }
    : {}),
  onError: (err) => process.stderr.write(`chaperone host: ${String((err as Error)?.message ?? err)}\n`),
}).catch((err: unknown) => {
  if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
  process.stderr.write(`chaperone host: port ${values.port} is in use (is Chaperone already running?). Stop the other one, or choose another port with --port (npm start: CHAPERONE_APP_PORT).\n`);
  process.exit(1);
});
process.stdout.write(`Chaperone is running. Open this once (it carries the launch secret):\n  ${host.launchUrl}\n`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void host.close().finally(() => process.exit(0));
  });
}

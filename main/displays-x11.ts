import { execFile } from 'node:child_process';
import x11 from 'x11';
import type { DisplayPort, SharedDisplay } from './displays.js';

/**
 * The X server's monitors (RandR 1.5, `xrandr --listmonitors`) as the displays the browser's
 * picker offers: Chromium names a monitor's source `screen:<atom of its name>:0`, so the id the
 * page reports from its track (getSettings().deviceId) is matched here through the X server's
 * own atom for each monitor's name. Rectangles are root-window pixels, what XTEST takes.
 */
export class X11Displays implements DisplayPort {
  readonly picker = 'system' as const;

  constructor(private readonly display: string) {}

  async list(): Promise<SharedDisplay[]> {
    const monitors = parseListMonitors(await run('xrandr', ['--listmonitors'], this.display));
    const atoms = await atomsOf(this.display, monitors.map((m) => m.name));
    return monitors.flatMap((m, i) => (atoms[i] ? [{ id: `screen:${atoms[i]}:0`, rect: m.rect }] : []));
  }
}

export interface XMonitor {
  name: string;
  rect: { x: number; y: number; width: number; height: number };
}

/** ` 1: RIGHT 1280/338x720/190+1280+0 ` (the flags `+` automatic and `*` primary before the name). */
export function parseListMonitors(out: string): XMonitor[] {
  const found: XMonitor[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*\d+:\s+[+*]*(\S+)\s+(\d+)\/\d+x(\d+)\/\d+([+-]\d+)([+-]\d+)/.exec(line);
    if (m) found.push({ name: m[1]!, rect: { x: Number(m[4]), y: Number(m[5]), width: Number(m[2]), height: Number(m[3]) } });
  }
  return found;
}

function run(bin: string, args: string[], display: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env: { ...process.env, DISPLAY: display }, timeout: 5000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

function atomsOf(display: string, names: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const client = x11.createClient({ display, shm: false }, (err, d) => {
      if (err) return reject(err);
      const X = d.client;
      Promise.all(names.map((n) => new Promise<number>((res, rej) => X.InternAtom(true, n, (e, atom) => (e ? rej(e) : res(atom))))))
        .then(resolve, reject)
        .finally(() => X.terminate());
    });
    client.on('error', reject);
  });
}

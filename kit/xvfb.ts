/**
 * A private Xvfb for one test file: a real X server with XTEST, on a display number nobody else
 * is using, torn down by PID.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import x11 from 'x11';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export interface Xvfb {
  /** ":N" */
  display: string;
  pid: number;
  width: number;
  height: number;
  stop(): Promise<void>;
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, bin), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Which of the tools the X11 tests need are missing, with the packages that bring them. */
export function missingDisplayTools(opts: { chromium?: boolean } = {}): string[] {
  const missing: string[] = [];
  if (!onPath('Xvfb')) missing.push('Xvfb (apt-get install xvfb)');
  if (!onPath('xdotool')) missing.push('xdotool (apt-get install xdotool)');
  if (opts.chromium) {
    try {
      fs.accessSync(CHROMIUM_PATH, fs.constants.X_OK);
    } catch {
      missing.push(`${CHROMIUM_PATH} (apt-get install chromium)`);
    }
  }
  return missing;
}

export function xdotool(display: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('xdotool', args, { env: { ...process.env, DISPLAY: display }, timeout: 5000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`xdotool ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

export async function mouseLocation(display: string): Promise<{ x: number; y: number }> {
  const out = await xdotool(display, ['getmouselocation', '--shell']);
  const x = /X=(\d+)/.exec(out)?.[1];
  const y = /Y=(\d+)/.exec(out)?.[1];
  if (x === undefined || y === undefined) throw new Error(`unexpected getmouselocation output: ${out}`);
  return { x: Number(x), y: Number(y) };
}

/**
 * Starts Xvfb with -displayfd, so the server itself picks a free display number and writes it
 * back: no guessing, no race with another test file starting its own server at the same moment.
 */
export async function startXvfb(opts: { width?: number; height?: number; timeoutMs?: number } = {}): Promise<Xvfb> {
  const width = opts.width ?? 1280;
  const height = opts.height ?? 720;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-noreset'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test process that dies without running its afterAll must not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.removeListener('exit', killOnExit));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killed = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    if (!killed) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  try {
    const fd3 = child.stdio[3] as NodeJS.ReadableStream | null;
    if (!fd3 || child.pid === undefined) throw new Error('Xvfb did not start');
    const num = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`Xvfb gave no display number within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      fd3.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /^(\d+)\n/.exec(buf);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`Xvfb exited (${code ?? signal}) before it was ready: ${stderr}`));
      });
    });
    const display = `:${num}`;
    // The display number is written once the socket listens; ask the server itself to be sure.
    const deadline = Date.now() + timeoutMs;
    let geom: string | undefined;
    while (geom === undefined) {
      try {
        geom = (await xdotool(display, ['getdisplaygeometry'])).trim();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (geom !== `${width} ${height}`) throw new Error(`Xvfb on ${display} reports ${geom}, not ${width} ${height}`);
    return { display, pid: child.pid, width, height, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A region of the X screen as the X server itself holds it (XGetImage, ZPixmap, four bytes a
 * pixel: blue, green, red, unused), as RGBA: never through capture, an encoder or WebRTC. Shows
 * native dialogs too (the browser's screen picker), which no page screenshot includes.
 */
export function grabScreen(display: string, r: { x: number; y: number; width: number; height: number }): Promise<{ data: Uint8ClampedArray; width: number; height: number }> {
  return new Promise((resolve, reject) => {
    const client = x11.createClient({ display, shm: false }, (err, d) => {
      if (err) return reject(new Error(`cannot connect to X display ${display}: ${err.message}`));
      const X = d.client;
      X.GetImage(2, d.screen[0]!.root, r.x, r.y, r.width, r.height, 0xffffffff, (e, img) => {
        X.terminate();
        if (e) return reject(new Error(`XGetImage failed: ${e.message}`));
        const px = r.width * r.height;
        if (img.data.length < px * 4) return reject(new Error(`XGetImage gave ${img.data.length} bytes for ${px} pixels (depth ${img.depth})`));
        const out = new Uint8ClampedArray(px * 4);
        for (let i = 0; i < px; i++) {
          out[i * 4] = img.data[i * 4 + 2]!;
          out[i * 4 + 1] = img.data[i * 4 + 1]!;
          out[i * 4 + 2] = img.data[i * 4]!;
          out[i * 4 + 3] = 255;
        }
        resolve({ data: out, width: r.width, height: r.height });
      });
    });
    client.on('error', (e: Error) => reject(e));
  });
}

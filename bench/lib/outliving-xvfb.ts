import { spawn } from 'node:child_process';

/**
 * A private Xvfb that outlives this process by a moment, for libnut. libnut keeps one Xlib
 * connection and closes it in a C atexit handler; if the X server is gone by then, Xlib's I/O
 * error handler exits the process with status 1 ("XIO: fatal IO error") after the benchmark has
 * written its results. So this server is not stopped by us: a small shell watches this process
 * and stops the server once it has exited. (The same exit is what an X server lost mid-session
 * does to a libnut process, one reason Linux keeps the XTEST adapter.)
 */
export async function startOutlivingXvfb(width: number, height: number, timeoutMs = 15_000): Promise<{ display: string }> {
  const script = `Xvfb -displayfd 3 -screen 0 ${width}x${height}x24 -nolisten tcp -noreset & x=$!; while kill -0 ${process.pid} 2>/dev/null; do sleep 0.2; done; kill $x`;
  const sh = spawn('sh', ['-c', script], { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  sh.unref();
  const fd3 = sh.stdio[3] as NodeJS.ReadableStream;
  const num = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display number within ${timeoutMs} ms`)), timeoutMs);
    fd3.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /^(\d+)\n/.exec(buf);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    sh.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb's watcher exited (${code}) before the server was ready`));
    });
  });
  (fd3 as unknown as { destroy(): void }).destroy();
  return { display: `:${num}` };
}

import x11 from 'x11';
import { InjectionUnavailableError, type ScreenRect } from '../injector.js';
import { inputRect, type DisplayInfo } from './desktop-coordinates.js';
import { LibnutInjector } from './libnut.js';
import { loadLibnut, type Libnut } from './libnut-module.js';
import type { TargetOs } from './target-os.js';

export interface LibnutSetup {
  os: TargetOs;
  /** The display being shared; by default libnut's main display from (0,0). */
  display?: DisplayInfo;
  /** Linux only: the X display name. libnut segfaults without one, so it is checked first. */
  xDisplay?: string;
  /** Tests load the binary themselves or hand a fake. */
  lib?: Libnut;
}

/**
 * Loads libnut for the platform and makes the adapter over the shared display.
 *
 * On Linux it is for the tests and the benchmark only (the factory uses XTEST there): libnut's
 * Xlib connection exits the process when the X server goes away, and when a key's symbol is not
 * in the keymap (keycode 0, X answers BadValue to XTestFakeInput, Xlib's default error handler
 * exits): measured with a German layout, where ` and ^ are dead keys. Windows and macOS have
 * neither failure mode.
 */
export async function createLibnutInjector(o: LibnutSetup): Promise<LibnutInjector> {
  if (o.os === 'linux') {
    if (!o.xDisplay) throw new InjectionUnavailableError('injection_unavailable', 'no X display to inject into: DISPLAY is not set');
    // XOpenDisplay failing leaves libnut with a null display it then dereferences: the whole
    // main process would die. Reach the server ourselves first.
    await probeXDisplay(o.xDisplay);
  }
  const lib = o.lib ?? loadLibnut(o.os);
  if (o.os === 'linux' && o.xDisplay) lib.setXDisplayName?.(o.xDisplay);
  const screen: ScreenRect = o.display ? inputRect(o.display, o.os) : { x: 0, y: 0, ...lib.getScreenSize() };
  return new LibnutInjector({ os: o.os, lib, screen });
}

function probeXDisplay(name: string, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let client: x11.XClient | undefined;
    const end = () => {
      try {
        client?.terminate();
      } catch {
        // The socket never got as far as having a stream to end.
      }
    };
    const settle = (why?: string) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      if (why === undefined) resolve();
      else reject(new InjectionUnavailableError('injection_unavailable', `cannot reach X display ${name}: ${why}`));
    };
    const timer = setTimeout(() => {
      settle(`no answer within ${timeoutMs} ms`);
      end();
    }, timeoutMs);
    try {
      client = x11.createClient({ display: name, shm: false }, (err) => {
        if (err) return settle(err.message);
        settle();
        end();
      });
      // An 'error' with no listener would throw out of the socket handler and take the process down.
      client.on('error', (err: Error) => settle(err.message));
    } catch (err) {
      settle((err as Error).message);
    }
  });
}

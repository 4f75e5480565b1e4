/**
 * The part of the `x11` package (pure JavaScript X11 protocol client, CommonJS, no types of its
 * own) the XTEST injector and its tests use.
 */
declare module 'x11' {
  import type { EventEmitter } from 'node:events';

  namespace x11 {
    interface XScreen {
      root: number;
      pixel_width: number;
      pixel_height: number;
    }

    interface XDisplay {
      client: XClient;
      screen: XScreen[];
      min_keycode: number;
      max_keycode: number;
    }

    interface XPointer {
      root: number;
      child: number;
      rootX: number;
      rootY: number;
      /** Modifier and button state: ShiftMask 1, ControlMask 4, Mod1Mask 8, Button1Mask 0x100... */
      keyMask: number;
    }

    interface XEvent {
      name?: string;
      type: number;
      /** MappingNotify: 0 modifier, 1 keyboard, 2 pointer. */
      request?: number;
    }

    interface XTest {
      KeyPress: number;
      KeyRelease: number;
      ButtonPress: number;
      ButtonRelease: number;
      MotionNotify: number;
      FakeInput(type: number, detail: number, time: number, wid: number, x: number, y: number): void;
    }

    interface XClient extends EventEmitter {
      require(name: 'xtest', cb: (err: Error | null, ext: XTest) => void): void;
      GetKeyboardMapping(firstKeycode: number, count: number, cb: (err: Error | null, rows: number[][]) => void): void;
      ChangeKeyboardMapping(firstKeycode: number, keysymsPerKeycode: number, keysyms: number[]): void;
      QueryPointer(wid: number, cb: (err: Error | null, pointer: XPointer) => void): void;
      /** 32 bytes, one bit per keycode that is down. */
      QueryKeymap(cb: (err: Error | null, keys: Buffer) => void): void;
      /** format 2 is ZPixmap: for depth 24, four bytes a pixel (blue, green, red, unused). Used by kit/xvfb.ts (grabScreen). */
      GetImage(format: number, drawable: number, x: number, y: number, width: number, height: number, planeMask: number, cb: (err: Error | null, img: { depth: number; visualId: number; data: Buffer }) => void): void;
      /** onlyIfExists: answers 0 for a name the server has never interned (main/displays-x11.ts). */
      InternAtom(onlyIfExists: boolean, name: string, cb: (err: Error | null, atom: number) => void): void;
      sync(): Promise<void>;
      close(cb?: (err?: Error) => void): void;
      terminate(): void;
    }

    interface ClientOptions {
      display?: string;
      /** false: a plain socket, no file-descriptor passing (MIT-SHM is of no use here). */
      shm?: boolean;
    }

    function createClient(options: ClientOptions, cb: (err: Error | null | undefined, display: XDisplay) => void): XClient;
  }

  export = x11;
}

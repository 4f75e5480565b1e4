import { JOIN_LINK_SCHEME, joinCodeFromArgv, parseJoinLink } from '../join-link.js';

/** The slice of Electron's app the single-instance and link handling use. */
export interface InstanceApp {
  requestSingleInstanceLock(): boolean;
  setAsDefaultProtocolClient(protocol: string, path?: string, args?: string[]): boolean;
  on(event: 'second-instance', listener: (event: unknown, argv: string[], workingDirectory: string) => void): unknown;
  on(event: 'open-url', listener: (event: { preventDefault(): void }, url: string) => void): unknown;
}

export interface InstanceOptions {
  /** A second start (or a link opened while running): bring the window forward. */
  focus(): void;
  /** A join code from a link that passed the parser. */
  onJoinCode(code: string): void;
  onRefusedLink(): void;
}

/**
 * One running app per user: a second start hands its command line to the first and exits. Links
 * arrive on the command line (Windows, Linux) or as `open-url` (macOS); both go through the strict
 * parser, and whatever else the command line carries is never acted on. Returns false when another
 * instance holds the lock: the caller quits at once.
 */
export function claimSingleInstance(app: InstanceApp, o: InstanceOptions): boolean {
  if (!app.requestSingleInstanceLock()) return false;
  app.on('second-instance', (_event, argv) => {
    o.focus();
    const mentionsLink = argv.some((a) => typeof a === 'string' && a.toLowerCase().includes(`${JOIN_LINK_SCHEME}:`));
    const code = joinCodeFromArgv(argv);
    if (code) o.onJoinCode(code);
    else if (mentionsLink) o.onRefusedLink();
  });
  app.on('open-url', (event, url) => {
    event.preventDefault();
    o.focus();
    const code = parseJoinLink(url);
    if (code) o.onJoinCode(code);
    else o.onRefusedLink();
  });
  return true;
}

/**
 * Registers `chaperone://` with the operating system. The command it registers ends its switches
 * with `--`, so Chromium reads no switch from the link whatever it contains (the Electron
 * protocol-handler argument injection, CVE-2018-1000006). In a development run (electron .) the
 * app path comes first.
 */
export function protocolClientArgs(defaultApp: boolean, appPath: string): string[] {
  return defaultApp ? [appPath, '--'] : ['--'];
}

export function registerJoinLinks(app: InstanceApp, execPath: string, defaultApp: boolean, appPath: string): boolean {
  // electronegativity-ok: links reach the app only through parseJoinLink/joinCodeFromArgv (exact shape), and `--` ends Chromium's switches
  return app.setAsDefaultProtocolClient(JOIN_LINK_SCHEME, execPath, protocolClientArgs(defaultApp, appPath));
}

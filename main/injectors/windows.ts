import { UnsupportedPlatformError, type Injector } from '../injector.js';

/**
 * Windows adapter, not written yet. The route it will take: SendInput with MOUSEEVENTF_ABSOLUTE |
 * MOUSEEVENTF_VIRTUALDESK (coordinates 0..65535 over the virtual desktop) and KEYEVENTF_UNICODE
 * for text. Input cannot reach elevated windows or the secure desktop (UAC, Ctrl+Alt+Del) from a
 * normal process, which the UI will have to say.
 */
export async function createWindowsInjector(): Promise<Injector> {
  throw new UnsupportedPlatformError('Windows (SendInput adapter not written)');
}

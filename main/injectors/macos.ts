import { UnsupportedPlatformError, type Injector } from '../injector.js';

/**
 * macOS adapter, not written yet. The route it will take: CGEventCreateMouseEvent /
 * CGEventCreateKeyboardEvent posted with CGEventPost, which needs the Accessibility permission
 * (AXIsProcessTrustedWithOptions prompts for it); without that permission events are dropped
 * silently, so the adapter must check it before claiming to work.
 */
export async function createMacosInjector(): Promise<Injector> {
  throw new UnsupportedPlatformError('macOS (CGEventPost adapter not written)');
}

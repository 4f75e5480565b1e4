import { Buffer } from 'buffer';
import processShim from 'process/browser.js';

/**
 * simple-peer (under the session engine) was written for Node and browserify: it expects a global
 * `process` (readable-stream calls process.nextTick) and `Buffer`. This module runs before
 * anything else in the page and provides them; it must stay the first import of main.ts.
 */
const g = globalThis as Record<string, unknown>;
g.process ??= processShim;
g.Buffer ??= Buffer;

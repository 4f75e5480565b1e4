declare module 'process/browser.js' {
  const process: { nextTick(fn: (...args: unknown[]) => void, ...args: unknown[]): void; env: Record<string, string> };
  export default process;
}

declare module '*.css';

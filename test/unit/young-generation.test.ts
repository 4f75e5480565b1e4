import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * A busy spell in a fresh Node process, as a long file transfer is for the end user's main
 * process: allocation with some survivors (the calls in flight). Prints V8's young generation
 * before and at its largest, in MiB.
 */
const BUSY = `
  const v8 = await import('node:v8');
  const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
  const start = young();
  let largest = start;
  const inFlight = [];
  for (let i = 0; i < 400_000; i++) {
    inFlight.push({ i, piece: new Array(16).fill(i) });
    if (inFlight.length > 2000) inFlight.shift();
    if (i % 1000 === 0) largest = Math.max(largest, young());
  }
  console.log(JSON.stringify({ start, largest }));
`;

function youngGeneration(first: string): { start: number; largest: number } {
  const script = `${first}\n${BUSY}`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { start: number; largest: number };
}

describe("the main process's young generation", () => {
  it('stays at its starting size through a busy spell once main/young-generation.ts is loaded, and grows without it', () => {
    const capped = youngGeneration(`await import('./main/young-generation.ts');`);
    const plain = youngGeneration('');
    // Without the module V8 doubles it (up to 2 x 16 MiB); this is what the setting prevents.
    expect(plain.largest).toBeGreaterThanOrEqual(plain.start * 4);
    expect(capped.largest).toBeLessThanOrEqual(Math.max(capped.start, 2));
  }, 60_000);
});

#!/usr/bin/env node
// Runs lint, typecheck and the whole vitest suite, then prints one plain closing line
// (`N passed, N failed, N skipped`) so a run that executed nothing cannot look green.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const extra = process.argv.slice(2);
const steps = [];
let passed = 0;
let failed = 0;
let skipped = 0;

function step(name, cmd, args) {
  process.stdout.write(`\n=== ${name}: ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: process.env });
  const ok = r.status === 0;
  steps.push({ name, ok });
  return ok;
}

if (!extra.length) {
  if (step('lint (layers and style)', 'npx', ['eslint', '.'])) passed++;
  else failed++;
  if (step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'])) passed++;
  else failed++;
}

const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-vitest-')), 'report.json');
const vitest = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...extra], {
  stdio: 'inherit',
  env: process.env,
});
let vitestCounted = false;
try {
  const r = JSON.parse(fs.readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  // A file that fails to load counts no test but must still fail the run.
  const brokenSuites = (r.testResults ?? []).filter((s) => s.status === 'failed' && (s.assertionResults ?? []).length === 0).length;
  failed += brokenSuites;
  vitestCounted = true;
} catch {
  failed++;
}
if (vitest.status !== 0 && vitestCounted && failed === 0) failed++;

for (const s of steps) process.stdout.write(`${s.ok ? 'ok  ' : 'FAIL'} ${s.name}\n`);
const total = passed + failed + skipped;
if (total === 0) failed++;
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed > 0 ? 1 : 0);

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
  // Electron security checks: fails on a HIGH or MEDIUM finding without an inline justification.
  if (step('electronegativity (main, preload, renderer)', 'node', ['scripts/electronegativity.mjs'])) passed++;
  else failed++;
}

/** Runs one vitest configuration and adds its counts; a run that could not report counts as failed. */
function vitestRun(name, args) {
  process.stdout.write(`\n=== ${name}\n`);
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-vitest-')), 'report.json');
  const run = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args], { stdio: 'inherit', env: process.env });
  const before = failed;
  try {
    const r = JSON.parse(fs.readFileSync(report, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += r.numPendingTests + (r.numTodoTests ?? 0);
    // A file that fails to load counts no test but must still fail the run.
    failed += (r.testResults ?? []).filter((s) => s.status === 'failed' && (s.assertionResults ?? []).length === 0).length;
  } catch {
    failed++;
  }
  if (run.status !== 0 && failed === before) failed++;
  steps.push({ name, ok: failed === before });
}

vitestRun('unit and integration tests', extra);
if (!extra.length) {
  // End-to-end: the real app in Debian's Chromium under Xvfb, built first.
  if (step('build the renderer', 'npm', ['run', 'build:renderer', '--silent'])) {
    vitestRun('end-to-end tests (Chromium, Xvfb)', ['--config', 'vitest.e2e.config.ts']);
    // The desktop app in real Electron: skipped, and counted as skipped, where the binary is absent.
    if (step('build the desktop app', 'node', ['scripts/build-app.mjs'])) vitestRun('Electron app tests (_electron)', ['--config', 'vitest.electron.config.ts']);
    else failed++;
  } else failed++;
}

for (const s of steps) process.stdout.write(`${s.ok ? 'ok  ' : 'FAIL'} ${s.name}\n`);
const total = passed + failed + skipped;
if (total === 0) failed++;
process.stdout.write(`${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(failed > 0 ? 1 : 0);

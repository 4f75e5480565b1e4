#!/usr/bin/env node
// Runs electronegativity over main/, preload/ and renderer/ and fails on any HIGH or MEDIUM finding
// that is not justified inline. electronegativity exits 0 whatever it finds, so its CSV report is
// parsed here.
//
// A justification is a comment on the flagged line or the line above it:
//   // electronegativity-ok: <why this is safe, at least a few words>
// A finding with no place in the code (a global check such as CSP_GLOBAL_CHECK) is justified by a
// comment naming it anywhere in the scanned code:
//   // electronegativity-ok CSP_GLOBAL_CHECK: <why>
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const INPUTS = ['main', 'preload', 'renderer'];
const FAILING = new Set(['HIGH', 'MEDIUM']);
const ELECTRON_VERSION = JSON.parse(fs.readFileSync(path.join(root, 'node_modules/electron/package.json'), 'utf8')).version;
const OK_LINE = /electronegativity-ok:\s*(\S.{9,})/;
const okGlobal = (id) => new RegExp(`electronegativity-ok\\s+${id}:\\s*(\\S.{9,})`);

/** RFC 4180-ish: quoted fields may hold commas, quotes are doubled. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.some((f) => f.trim() !== '')) rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  row.push(field);
  if (row.some((f) => f.trim() !== '')) rows.push(row);
  return rows;
}

// One run over a copy of the three layers, so the report names files as main/..., preload/...
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-electronegativity-'));
const scan = path.join(work, 'src');
for (const dir of INPUTS) fs.cpSync(path.join(root, dir), path.join(scan, dir), { recursive: true, filter: (src) => !src.includes(`${path.sep}node_modules`) });
const report = path.join(work, 'report.csv');
const run = spawnSync('npx', ['electronegativity', '-i', scan, '-o', report, '-r', '-v', 'false', '-e', ELECTRON_VERSION], { cwd: root, encoding: 'utf8' });
if (run.status !== 0 || !fs.existsSync(report)) {
  process.stderr.write(`${run.stdout ?? ''}${run.stderr ?? ''}\nelectronegativity did not produce a report\n`);
  process.exit(1);
}
const [header, ...rows] = parseCsv(fs.readFileSync(report, 'utf8'));
const col = (name) => header.findIndex((h) => h.trim() === name);
const [iIssue, iSeverity, iConfidence, iFile, iLocation] = ['issue', 'severity', 'confidence', 'filename', 'location'].map(col);
if ([iIssue, iSeverity, iFile, iLocation].some((i) => i < 0)) {
  process.stderr.write(`unexpected report header: ${header.join(',')}\n`);
  process.exit(1);
}

const sources = new Map();
const readSource = (rel) => {
  if (!sources.has(rel)) {
    const file = path.join(scan, rel);
    sources.set(rel, fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : null);
  }
  return sources.get(rel);
};
const allSources = () => {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|tsx|js|mjs|cjs|html)$/.test(e.name)) out.push(fs.readFileSync(p, 'utf8'));
    }
  };
  walk(scan);
  return out;
};

let unjustified = 0;
for (const r of rows) {
  const id = r[iIssue].trim();
  const severity = r[iSeverity].trim();
  const file = r[iFile].trim();
  const location = r[iLocation].trim();
  let why = null;
  if (file === 'N/A' || file === '') {
    for (const text of allSources()) why ??= okGlobal(id).exec(text)?.[1] ?? null;
  } else {
    const line = Number(location.split(':')[0]);
    const lines = readSource(file);
    if (lines && line >= 1) why = OK_LINE.exec(lines[line - 1] ?? '')?.[1] ?? OK_LINE.exec(lines[line - 2] ?? '')?.[1] ?? null;
  }
  const failing = FAILING.has(severity) && !why;
  if (failing) unjustified++;
  const mark = failing ? 'FAIL' : FAILING.has(severity) ? 'ok  ' : 'info';
  process.stdout.write(`${mark} ${severity.padEnd(13)} ${id} ${file}:${location}${iConfidence >= 0 ? ` (${r[iConfidence].trim()})` : ''}${why ? `\n       justified: ${why.trim()}` : ''}\n`);
}
fs.rmSync(work, { recursive: true, force: true });
process.stdout.write(`electronegativity (Electron ${ELECTRON_VERSION}): ${rows.length} findings, ${unjustified} HIGH or MEDIUM without an inline justification\n`);
process.exit(unjustified > 0 ? 1 : 0);

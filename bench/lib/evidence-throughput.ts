/**
 * Evidence verify throughput (bench/recording.ts): `verifyEvidence` over one bundle in this
 * process, rounds alternating with a plain sha256 of the same bytes so the shared machine's load
 * falls on both alike; and the CLI once in a fresh process, as an auditor runs it (its own timing
 * of the check, and the wall time with start-up).
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { verifyEvidence } from '../../broker/audit/evidence-verify.js';
import { round } from './stats.js';

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'chaperone-broker.mjs');

export interface VerifyThroughput {
  evidence_bytes: number;
  evidence_verify_intact: boolean;
  evidence_verify_mb_per_s: number;
  baseline_sha256_mb_per_s: number;
  evidence_verify_vs_sha256: number;
  cli_verify_exit: number | null;
  cli_verify_ms: number | null;
  cli_verify_mb_per_s: number | null;
  cli_wall_ms: number;
}

export function verifyThroughput(tar: Buffer, file: string, rounds: number): VerifyThroughput {
  let ok = verifyEvidence(tar).ok;
  let verifyMs = 0;
  let hashMs = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    ok &&= verifyEvidence(tar).ok;
    const t1 = performance.now();
    crypto.createHash('sha256').update(tar).digest();
    hashMs += performance.now() - t1;
    verifyMs += t1 - t0;
  }
  const mb = (tar.length * rounds) / 1e6;
  const w0 = performance.now();
  const cli = spawnSync(process.execPath, [BIN, 'evidence', 'verify', file, '--json'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CHAPERONE_LOG_LEVEL: 'silent' } });
  const wall = performance.now() - w0;
  let cliMs: number | null = null;
  try {
    cliMs = (JSON.parse(cli.stdout) as { ms: number }).ms;
  } catch {
    /* reported as null with its exit code */
  }
  const v = mb / (verifyMs / 1000);
  const h = mb / (hashMs / 1000);
  return {
    evidence_bytes: tar.length,
    evidence_verify_intact: ok,
    evidence_verify_mb_per_s: round(v, 1),
    baseline_sha256_mb_per_s: round(h, 1),
    evidence_verify_vs_sha256: round(v / h, 2),
    cli_verify_exit: cli.status,
    cli_verify_ms: cliMs,
    cli_verify_mb_per_s: cliMs ? round(tar.length / 1e6 / (cliMs / 1000), 1) : null,
    cli_wall_ms: round(wall, 0),
  };
}

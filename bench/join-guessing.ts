/**
 * The join-code guessing bound, measured: a real broker (SQLite, its clock moved forward) is
 * attacked by 200 addresses, each guess with a new device key, through the whole life of one code,
 * with the code issued 20 seconds before the global window turns (the worst case: two windows'
 * worth of guesses fall in one code's life). Counts the guesses the broker evaluated (answered 404
 * rather than 429) while the code was live, G, and works out P ≤ G × L / N with the live-code cap L
 * and the code space N. Prints it and writes bench/results/join-guessing.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApiClient } from '../kit/api.js';
import { createUser, login, startTestBroker } from '../kit/broker.js';
import { DeviceKey } from '../kit/device.js';
import { requestSession } from '../kit/lifecycle.js';
import { JumpingClock } from './lib/jumping-clock.js';

const SOURCES = 200;
const STEP_MS = 30_000;
const N = 32 ** 10;

export async function runJoinGuessingBench(o: { quick: boolean }): Promise<number> {
  const clock = new JumpingClock();
  const b = await startTestBroker('sqlite', { clock, file: { trusted_proxies: ['127.0.0.1'] } as never });
  const rl = b.ctx.cfg.rateLimits;
  const ttlMs = b.ctx.cfg.policy.code_ttl_minutes * 60_000;
  const windowMs = rl.join_failure_window_minutes * 60_000;
  const perStep = o.quick ? 2 : 4;
  let seq = 0;
  const guess = (ip: string) => new ApiClient(b.url, new DeviceKey()).call('POST', '/api/v1/join', { code: `ZZZZZ-${String(seq++).padStart(5, '0').replace(/[^0-9]/g, '0')}` }, { headers: { 'x-forwarded-for': ip } });
  const round = async (): Promise<{ evaluated: number; sent: number }> => {
    const sent = Array.from({ length: SOURCES * perStep }, (_, i) => guess(`198.51.${Math.floor((i % SOURCES) / 250)}.${(i % SOURCES) % 250}`));
    const res = await Promise.all(sent);
    return { evaluated: res.filter((r) => r.status === 404).length, sent: res.length };
  };
  try {
    const analyst = await createUser(b, 'alice', ['analyst']);
    // One guess opens the global window; the code is issued just before it turns.
    const opened = clock.now();
    const first = await guess('192.0.2.1');
    if (first.status !== 404) throw new Error(`the opening guess was answered ${first.status}: ${JSON.stringify(first.body)}`);
    await clock.jump(opened + windowMs - 20_000 - clock.now());
    // The analyst signs in now: a sign-in from before the jump would have expired.
    await login(analyst);
    const s = await requestSession(analyst);
    const issued = await analyst.api.post(`/api/v1/sessions/${s.id}/code`, {});
    if (issued.status !== 200) throw new Error(`code not issued: ${JSON.stringify(issued.body)}`);
    if (clock.now() >= opened + windowMs) throw new Error('the code was issued after the window turned: the worst case was missed');
    let evaluated = 0;
    let sent = 0;
    const started = performance.now();
    for (let t = 0; t < ttlMs; t += STEP_MS) {
      const r = await round();
      evaluated += r.evaluated;
      sent += r.sent;
      await clock.jump(t === 0 ? 1000 : STEP_MS);
    }
    const L = rl.max_live_codes;
    const out = {
      quick: o.quick,
      sources: SOURCES,
      guesses_sent_during_code_life: sent,
      guesses_evaluated_during_code_life: evaluated,
      bound_two_windows: 2 * rl.join_failures_global,
      max_live_codes: L,
      code_space: N,
      p_any_live_code_guessed: (evaluated * L) / N,
      limits: { per_device: rl.join_failures_per_device, per_source: rl.join_failures_per_source, global: rl.join_failures_global, window_minutes: rl.join_failure_window_minutes },
      wall_s: Math.round((performance.now() - started) / 100) / 10,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    fs.mkdirSync(path.join('bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join('bench', 'results', 'join-guessing.json'), `${JSON.stringify(out, null, 2)}\n`);
    return out.p_any_live_code_guessed < 1e-6 ? 0 : 1;
  } finally {
    clock.dispose();
    await b.destroy();
  }
}

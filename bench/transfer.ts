/**
 * Transfer benchmark (`npm run bench -- transfer [--quick]`), writes bench/results/transfer.json:
 * - a file from the analyst to the end user through the app (100 MiB; 32 MiB quick), timed from
 *   the end user's Accept to "saved" on their side (bytes on disk, SHA-256 checked), beside a bare
 *   data channel between the same two pages in the same run (64 KiB messages, the same water marks);
 * - peak RSS growth on each side during the file: the analyst's Chromium (sender), and the end
 *   user's Chromium plus the process running their main-process services (receiver: the browser
 *   host's CLI in its own process, where Electron's main would be);
 * - clipboard sync: text copied on the X display (xclip) to the analyst's panel showing it.
 * Everything is real, set up as the end-to-end tests do (kit/e2e-stack.ts). Method: bench/README.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { FILE_HIGH_WATER, FILE_LOW_WATER } from '../common/files/protocol.js';
import { Stack, missingTools, requestSession, signIn, xsetroot } from '../kit/e2e-stack.js';
import { launchDetachable } from './lib/detachable-browser.js';
import { nameShim } from './lib/screen-probe.js';
import { REPO_ROOT } from './lib/child.js';
import { round, sleep, summarize } from './lib/stats.js';

const log = (s: string) => process.stdout.write(`${s}\n`);
const MiB = 1024 * 1024;

function procs(): { pid: number; ppid: number; cmd: string }[] {
  const out: { pid: number; ppid: number; cmd: string }[] = [];
  for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.push({ pid: Number(d), ppid, cmd: fs.readFileSync(`/proc/${d}/cmdline`, 'utf8') });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Chromium browser processes (not their children) by --user-data-dir: one per launched browser. */
function chromiumRoots(): Map<string, { pid: number; headless: boolean }> {
  const roots = new Map<string, { pid: number; headless: boolean }>();
  // Only browsers this process started: other tenants of the machine run Chromium too.
  const mine = new Set(tree(process.pid));
  for (const p of procs().filter((x) => mine.has(x.pid))) {
    const dir = /--user-data-dir=([^\0]+)/.exec(p.cmd)?.[1];
    if (dir && /chrom/i.test(p.cmd) && !p.cmd.includes('--type=')) roots.set(dir, { pid: p.pid, headless: p.cmd.includes('--headless') });
  }
  return roots;
}

/** A process and all its descendants (Chromium's renderers, GPU and network processes). */
function tree(root: number): number[] {
  const all = procs();
  const pids = [root];
  for (let i = 0; i < pids.length; i++) for (const p of all) if (p.ppid === pids[i]) pids.push(p.pid);
  return pids;
}

/** RSS of one process by kind of memory (anonymous, shared memory, mapped files), MiB. */
function rssParts(pid: number): { anon: number; shmem: number; file: number } {
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? 0) / 1024;
    return { anon: kb('RssAnon'), shmem: kb('RssShmem'), file: kb('RssFile') };
  } catch {
    return { anon: 0, shmem: 0, file: 0 };
  }
}

function rssMiB(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return kb / 1024;
}

/**
 * Peak RSS of process trees (or of one process: `[pid]`) until stopped: RSS every 100 ms, the
 * trees' members once a second (walking /proc is costly, and this machine's two cores are what is
 * being measured). Each
 * process's own growth is kept too, so a figure over its goal says which process grew.
 */
function rssPeaks(roots: Record<string, number | [number]>): { stop: () => Record<string, { base: number; peak: number; by_process: Record<string, string> }> } {
  const r: Record<string, { base: number; peak: number; by_process: Record<string, string> }> = {};
  const members: Record<string, number[]> = {};
  const own = new Map<number, { kind: string; base: number; peak: number; anon: [number, number]; shmem: [number, number] }>();
  const refresh = () => {
    for (const [k, root] of Object.entries(roots)) members[k] = Array.isArray(root) ? root : tree(root);
    for (const pid of Object.values(members).flat()) {
      if (own.has(pid)) continue;
      let cmd = '';
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      const kind = /browser-host\/cli\.ts/.test(cmd) ? 'host' : (/--type=([a-z-]+)/.exec(cmd)?.[1] ?? 'browser') + (/--utility-sub-type=([a-z.]+)/.exec(cmd)?.[1] ? `:${/--utility-sub-type=([a-z.]+)/.exec(cmd)![1]}` : '');
      const v = rssMiB([pid]);
      const p = rssParts(pid);
      own.set(pid, { kind: `${kind}#${pid}`, base: v, peak: v, anon: [p.anon, p.anon], shmem: [p.shmem, p.shmem] });
    }
  };
  refresh();
  for (const k of Object.keys(roots)) {
    const v = rssMiB(members[k]!);
    r[k] = { base: v, peak: v, by_process: {} };
  }
  const t = setInterval(() => {
    for (const k of Object.keys(roots)) r[k]!.peak = Math.max(r[k]!.peak, rssMiB(members[k]!));
    for (const [pid, o] of own) {
      const p = rssParts(pid);
      o.peak = Math.max(o.peak, p.anon + p.shmem + p.file);
      o.anon[1] = Math.max(o.anon[1], p.anon);
      o.shmem[1] = Math.max(o.shmem[1], p.shmem);
    }
  }, 100);
  const m = setInterval(refresh, 1000);
  return {
    stop: () => {
      clearInterval(t);
      clearInterval(m);
      for (const k of Object.keys(roots)) {
        for (const pid of members[k]!) {
          const o = own.get(pid);
          if (o && o.peak - o.base >= 1) r[k]!.by_process[o.kind] = `${round(o.peak - o.base, 1)} (anonymous ${round(o.anon[1] - o.anon[0], 1)}, shared memory ${round(o.shmem[1] - o.shmem[0], 1)})`;
        }
      }
      return r;
    },
  };
}

/** A bare data channel between two pages (no app): 64 KiB messages, the app's water marks; MiB/s. */
async function rawChannel(sender: Page, receiver: Page, bytes: number): Promise<number> {
  await nameShim(sender);
  await nameShim(receiver);
  const offer = await sender.evaluate(async () => {
    const pc = new RTCPeerConnection();
    const ch = pc.createDataChannel('bench', { ordered: true });
    ch.binaryType = 'arraybuffer';
    Object.assign(window, { __bpc: pc, __bch: ch });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((r) => (pc.iceGatheringState === 'complete' ? r() : pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r())));
    return JSON.stringify(pc.localDescription);
  });
  const answer = await receiver.evaluate(
    async ([o, n]) => {
      const pc = new RTCPeerConnection();
      const w = window as unknown as Record<string, unknown>;
      w.__bpc = pc;
      w.__bdone = new Promise<number>((resolve) => {
        pc.addEventListener('datachannel', (e) => {
          let got = 0;
          e.channel.binaryType = 'arraybuffer';
          e.channel.onmessage = (m) => {
            got += (m.data as ArrayBuffer).byteLength;
            if (got >= (n as number)) resolve(performance.timeOrigin + performance.now());
          };
        });
      });
      await pc.setRemoteDescription(JSON.parse(o as string) as RTCSessionDescriptionInit);
      await pc.setLocalDescription(await pc.createAnswer());
      await new Promise<void>((r) => (pc.iceGatheringState === 'complete' ? r() : pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r())));
      return JSON.stringify(pc.localDescription);
    },
    [offer, bytes] as const,
  );
  const t0 = await sender.evaluate(
    async ([a, n, high, low]) => {
      const w = window as unknown as { __bpc: RTCPeerConnection; __bch: RTCDataChannel };
      await w.__bpc.setRemoteDescription(JSON.parse(a as string) as RTCSessionDescriptionInit);
      const ch = w.__bch;
      if (ch.readyState !== 'open') await new Promise((r) => ch.addEventListener('open', r, { once: true }));
      ch.bufferedAmountLowThreshold = low as number;
      const chunk = new Uint8Array(64 * 1024);
      const start = performance.timeOrigin + performance.now();
      for (let sent = 0; sent < (n as number); sent += chunk.length) {
        if (ch.bufferedAmount > (high as number)) await new Promise((r) => ch.addEventListener('bufferedamountlow', r, { once: true }));
        ch.send(chunk);
      }
      return start;
    },
    [answer, bytes, FILE_HIGH_WATER, FILE_LOW_WATER] as const,
  );
  const t1 = await receiver.evaluate(() => (window as unknown as { __bdone: Promise<number> }).__bdone);
  await sender.evaluate(() => (window as unknown as { __bpc: RTCPeerConnection }).__bpc.close());
  await receiver.evaluate(() => (window as unknown as { __bpc: RTCPeerConnection }).__bpc.close());
  return bytes / MiB / ((t1 - t0) / 1000);
}

function xCopy(display: string, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('xclip', ['-selection', 'clipboard', '-i'], { env: { ...process.env, DISPLAY: display }, stdio: ['pipe', 'ignore', 'ignore'] });
    p.once('error', reject);
    p.once('exit', () => resolve());
    p.stdin.end(text);
  });
}

/**
 * The end user's browser host (main/browser-host/cli.ts) in a child process with its own home, so
 * a received file lands in that home's Downloads, the default folder.
 */
async function hostProcess(brokerUrl: string, display: string, home: string): Promise<{ pid: number; launchUrl: string; stop: () => Promise<void> }> {
  fs.mkdirSync(home, { recursive: true });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'main/browser-host/cli.ts'), '--broker', brokerUrl, '--display', display, '--data-dir', path.join(home, 'app'), '--port', '0'], {
    cwd: REPO_ROOT,
    env: { ...process.env, HOME: home },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const launchUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /(http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the end user's host exited (${code}) before it printed its address`)));
  });
  return { pid: child.pid!, launchUrl, stop };
}

export async function runTransferBench(o: { quick: boolean }): Promise<number> {
  const missing = missingTools();
  if (!(process.env.PATH ?? '').split(path.delimiter).some((d) => fs.existsSync(path.join(d, 'xclip')))) missing.push('xclip (apt-get install xclip)');
  if (missing.length > 0) {
    process.stderr.write(`transfer bench: missing ${missing.join(', ')}\n`);
    return 1;
  }
  const size = (o.quick ? 32 : 100) * MiB;
  const clipSamples = o.quick ? 5 : 20;
  const started = Date.now();
  const out: Record<string, unknown> = { quick: o.quick, date: new Date().toISOString(), cpus: os.cpus().length, loadavg_before: os.loadavg().map((x) => round(x, 2)), file_mib: size / MiB };
  log(`transfer bench: ${size / MiB} MiB analyst -> end user, a bare channel between the same pages, ${clipSamples} clipboard syncs`);
  let closeEu: () => Promise<void> = async () => undefined;
  let stopHost: () => Promise<void> = async () => undefined;
  const s = await Stack.start({ policy: { auto_approve: { capabilities: ['view', 'chat', 'files', 'clipboard'], analyst_kinds: ['internal'] } } });
  try {
    // The end user's main-process services in their own process, as Electron's main is: the
    // receiver's figure is that process and the end user's Chromium, nothing of this one's. Only
    // the process itself: the xclip it starts to look at the clipboard comes and goes meanwhile,
    // where Electron reads the clipboard in its own process.
    const euHome = path.join(s.dir, 'end-user-home');
    const folder = path.join(euHome, 'Downloads');
    const euHost = await hostProcess(s.broker.url, s.xvfb.display, euHome);
    stopHost = euHost.stop;
    const anHost = await s.host('staff');
    const analyst = await s.user('analyst');
    const an = await s.staffPage(anHost);
    const sender = [...chromiumRoots().values()].find((r) => r.headless)?.pid ?? null;
    await signIn(an.page, analyst);
    await requestSession(an.page, { ticket: 'BENCH-FILES', reason: 'Benchmark: file transfer and clipboard', also: ['files', 'clipboard'] });
    const codeEl = an.page.getByTestId('join-code');
    await codeEl.waitFor({ timeout: 15_000 });
    const euBrowser = await launchDetachable(s.xvfb.display, `${euHost.launchUrl}#/`);
    closeEu = () => euBrowser.close();
    const eu = { page: euBrowser.page() };
    await eu.page.getByRole('heading', { name: /^Get help from / }).waitFor();
    const euRoot = euBrowser.pid;
    if (sender === null) throw new Error("could not find the analyst's browser in /proc");
    await eu.page.getByLabel('Join code').fill((await codeEl.textContent())!.trim());
    await eu.page.getByRole('button', { name: 'Continue' }).click();
    await eu.page.getByRole('button', { name: 'Accept and share my screen' }).click();
    for (const [cap, way] of [['files', 'To the end user only'], ['clipboard', 'From the end user only']] as const) {
      await an.page.getByTestId(`request-${cap}`).and(an.page.locator(':enabled')).waitFor({ timeout: 30_000 });
      await an.page.getByTestId(`request-${cap}`).click();
      await an.page.getByRole('radio', { name: way }).check();
      await an.page.getByRole('button', { name: 'Ask the end user' }).click();
      await eu.page.getByRole('button', { name: cap === 'files' ? 'Allow files' : 'Allow clipboard' }).click();
      await an.page.getByTestId(`viewer-${cap}-on`).waitFor({ timeout: 10_000 });
    }

    const file = path.join(s.dir, 'bench-file.bin');
    fs.writeFileSync(file, crypto.randomBytes(size));
    await an.page.getByTestId('send-file-input').setInputFiles(file);
    await eu.page.getByTestId('file-offer').waitFor({ timeout: 60_000 });
    // Before the file, the screen moves for a few seconds with nothing else going on: the shared
    // screen's capture and encoder reach their working size here, so the figures below are what
    // the file adds. What that warm-up itself grew by is kept beside them.
    const idle = rssPeaks({ sender, receiverPage: euRoot, receiverMain: [euHost.pid] });
    const idleUntil = Date.now() + 5000;
    for (let i = 0; Date.now() < idleUntil; i++) {
      await xsetroot(s.xvfb.display, i % 2 ? '#203040' : '#405060');
      await sleep(100);
    }
    const idleRss = idle.stop();
    const peaks = rssPeaks({ sender, receiverPage: euRoot, receiverMain: [euHost.pid] });
    const t0 = Date.now();
    // On two busy cores the DevTools round trips after a click can take long: the click is done.
    await eu.page.getByRole('button', { name: 'Accept file' }).click({ timeout: 120_000, noWaitAfter: true });
    // Playwright lets go of the end user's browser while the file moves (see detachable-browser.ts):
    // main moves the file to its name only once its SHA-256 matched, so its appearing is "saved".
    await euBrowser.detach();
    const landed = path.join(folder, 'bench-file.bin');
    for (const end = Date.now() + 600_000; !fs.existsSync(landed); await sleep(20)) if (Date.now() > end) throw new Error('the file never landed');
    const fileS = (Date.now() - t0) / 1000;
    const rss = peaks.stop();
    // What of the page's growth is garbage: its RSS and ArrayBuffers after a full collection
    // (DevTools). RSS that stays is the heap's own size or the allocator's, not live bytes.
    const beforeGc = { page: rssMiB(tree(euRoot)) };
    eu.page = await euBrowser.attach();
    const cdp = await eu.page.context().newCDPSession(eu.page);
    const heapBefore = (await cdp.send('Runtime.getHeapUsage')) as { backingStorageSize?: number };
    await cdp.send('HeapProfiler.collectGarbage');
    await sleep(1000);
    const heapAfter = (await cdp.send('Runtime.getHeapUsage')) as { backingStorageSize?: number };
    await cdp.detach();
    const afterFullGc = {
      page_rss_drop_mib: round(beforeGc.page - rssMiB(tree(euRoot)), 1),
      page_array_buffers_mib: [round((heapBefore.backingStorageSize ?? 0) / MiB, 1), round((heapAfter.backingStorageSize ?? 0) / MiB, 1)],
    };
    await eu.page.locator('[data-testid="transfer-in"][data-state="saved"]').waitFor({ timeout: 30_000 });
    if (fs.statSync(landed).size !== size) throw new Error('the received file has the wrong size');
    const fileRate = size / MiB / fileS;
    log(`  file through the app: ${round(fileRate, 1)} MiB/s (${round(fileS, 2)} s)`);

    // The bare channel between the same pages, measured alike (after the file: not a clean base).
    const rawPeaks = rssPeaks({ sender, receiverPage: euRoot, receiverMain: [euHost.pid] });
    const raw = await rawChannel(an.page, eu.page, size);
    const rawRss = rawPeaks.stop();
    log(`  bare data channel:    ${round(raw, 1)} MiB/s`);

    const clip: number[] = [];
    for (let i = 0; i < clipSamples; i++) {
      const text = `bench clipboard ${i} ${crypto.randomUUID()}`;
      await an.page.evaluate((t) => {
        const w = window as unknown as { __clipAt: Promise<number> };
        w.__clipAt = new Promise((resolve) => {
          const check = () => (document.querySelector('[data-testid="clipboard-received"]') as HTMLTextAreaElement | null)?.value === t;
          const obs = new MutationObserver(() => check() && (obs.disconnect(), resolve(performance.timeOrigin + performance.now())));
          obs.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
          const poll = setInterval(() => check() && (clearInterval(poll), obs.disconnect(), resolve(performance.timeOrigin + performance.now())), 5);
        });
      }, text);
      const c0 = Date.now();
      await xCopy(s.xvfb.display, text);
      const at = await an.page.evaluate(() => (window as unknown as { __clipAt: Promise<number> }).__clipAt);
      clip.push(at - c0);
      await sleep(100 + Math.random() * 200);
    }
    const cs = summarize(clip);
    log(`  clipboard X -> analyst's panel: p50 ${round(cs.p50, 1)} ms, max ${round(cs.max, 1)} ms`);

    const growth = (r: { base: number; peak: number }) => r.peak - r.base;
    Object.assign(out, {
      file_mib_per_s: round(fileRate, 2),
      raw_channel_mib_per_s: round(raw, 2),
      file_ratio: round(fileRate / raw, 3),
      sender_peak_rss_mib: round(growth(rss.sender!), 1),
      receiver_peak_rss_mib: round(growth(rss.receiverPage!) + growth(rss.receiverMain!), 1),
      clipboard_sync_p50_ms: round(cs.p50, 1),
      clipboard_sync_max_ms: round(cs.max, 1),
      details: {
        file_seconds: round(fileS, 2),
        rss_mib: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, { base: round(v.base, 1), peak: round(v.peak, 1), growth_by_process: v.by_process }])),
        screen_motion_before_file_rss_growth_mib: Object.fromEntries(Object.entries(idleRss).map(([k, v]) => [k, round(v.peak - v.base, 1)])),
        // The end user's page just after the file landed, before and after a full collection.
        receiver_after_full_gc: afterFullGc,
        raw_channel_rss_growth_mib: Object.fromEntries(Object.entries(rawRss).map(([k, v]) => [k, { growth: round(v.peak - v.base, 1), by_process: v.by_process }])),
        clipboard_samples_ms: clip.map((x) => round(x, 1)),
        note: "RSS figures are growth over the value just before Accept; the receiver is the end user's Chromium plus the process hosting their main-process services (the browser host's CLI, in Electron's main process's place). Playwright is detached from the end user's browser while the file moves: its DevTools session would otherwise carry a base64 copy of every bridge WebSocket frame through the browser process and this one, which Electron's IPC does not have (bench/README.md).",
      },
    });
    await eu.page.getByTestId('stop').click();
  } finally {
    await closeEu();
    await stopHost();
    await s.close();
  }
  out.loadavg_after = os.loadavg().map((x) => round(x, 2));
  try {
    out.uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    /* not everywhere */
  }
  out.duration_s = round((Date.now() - started) / 1000, 1);
  out.goals = { file_ratio: 0.7, sender_peak_rss_mib: 64, receiver_peak_rss_mib: 64 };
  fs.mkdirSync(path.join(import.meta.dirname, 'results'), { recursive: true });
  const file = path.join(import.meta.dirname, 'results', 'transfer.json');
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  log(`wrote ${file}`);
  return 0;
}

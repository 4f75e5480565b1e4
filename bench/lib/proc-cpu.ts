/**
 * CPU time of a process tree from /proc (Linux): a browser's work is spread over its browser,
 * GPU, utility and renderer processes, so the sharer's cost is the whole tree's, not one pid's.
 */
import fs from 'node:fs';

/** The kernel's clock tick (USER_HZ): 100 on every Linux this runs on. */
const TICKS_PER_S = 100;

interface Proc {
  pid: number;
  ppid: number;
  cpuTicks: number;
}

function readProcs(): Proc[] {
  const out: Proc[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      // The command name is in parentheses and may itself hold spaces or parentheses.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(d), ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]) });
    } catch {
      /* gone between readdir and read */
    }
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** The pids under `root` (inclusive). */
function tree(procs: readonly Proc[], root: number): Set<number> {
  const kids = new Map<number, number[]>();
  for (const p of procs) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p.pid]);
  const seen = new Set<number>([root]);
  const todo = [root];
  while (todo.length) {
    for (const k of kids.get(todo.pop()!) ?? []) {
      if (seen.has(k)) continue;
      seen.add(k);
      todo.push(k);
    }
  }
  return seen;
}

/** The topmost process under this one whose command line contains `marker` (a browser started by this bench). */
export function findChild(marker: string): number | null {
  const procs = readProcs();
  const mine = tree(procs, process.pid);
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  for (const pid of mine) {
    if (pid === process.pid || !cmdline(pid).includes(marker)) continue;
    const parent = byPid.get(pid)?.ppid;
    if (parent === undefined || !cmdline(parent).includes(marker)) return pid;
  }
  return null;
}

/** CPU seconds the tree under `root` has used so far (processes that already exited are not counted). */
export function treeCpuSeconds(root: number): number {
  const procs = readProcs();
  const pids = tree(procs, root);
  return procs.filter((p) => pids.has(p.pid)).reduce((n, p) => n + p.cpuTicks, 0) / TICKS_PER_S;
}

// CPU time and memory of processes from /proc: utime+stime (fields 14 and 15 of /proc/PID/stat, in clock
// ticks of USER_HZ) and VmRSS/VmHWM from /proc/PID/status. Summed over a proxy's processes (nginx:
// master + worker; HAProxy and weft: one process each).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let hz: number | undefined;
function userHz(): number {
  if (hz === undefined) {
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      hz = 100;
    }
  }
  return hz;
}

export interface ProcSample {
  at: number; // ms since epoch
  cpuS: number; // user + system CPU seconds since start
  rssMB: number;
  hwmMB: number; // peak resident
  /** Proportional set size: shared pages (libraries, nginx master/worker sharing) split between sharers. */
  pssMB: number;
}

/** `pid` and all its descendants (nginx's workers; any process a proxy forks), from /proc. */
export function withDescendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch {
      /* gone */
    }
  }
  return out;
}

export function sample(pids: number[]): ProcSample {
  let ticks = 0;
  let rss = 0;
  let hwm = 0;
  let pss = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwm += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return {
    at: Date.now(),
    cpuS: ticks / userHz(),
    rssMB: (rss * 1024) / 1e6,
    hwmMB: (hwm * 1024) / 1e6,
    pssMB: (pss * 1024) / 1e6,
  };
}

/** CPU used between two samples, as a fraction of one CPU (vCPU). */
export const vcpu = (a: ProcSample, b: ProcSample): number => (b.cpuS - a.cpuS) / ((b.at - a.at) / 1000);

/** Per-CPU jiffies from /proc/stat: busy (user+nice+system+irq+softirq), idle (idle+iowait), steal. */
export interface CpuTimes {
  at: number;
  cpus: Array<{ busy: number; idle: number; steal: number }>;
}

export function cpuTimes(): CpuTimes {
  const cpus: CpuTimes['cpus'] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2]!
      .split(/\s+/)
      .map(Number) as number[];
    cpus[Number(m[1])] = {
      busy: user! + nice! + system! + irq! + softirq!,
      idle: idle! + iowait!,
      steal: steal!,
    };
  }
  return { at: Date.now(), cpus };
}

/** Share of each CPU's time between two readings that was busy, and that the hypervisor stole. */
export function cpuShares(a: CpuTimes, b: CpuTimes): Array<{ busy: number; steal: number }> {
  return b.cpus.map((y, i) => {
    const x = a.cpus[i]!;
    const total = y.busy - x.busy + (y.idle - x.idle) + (y.steal - x.steal) || 1;
    return { busy: (y.busy - x.busy) / total, steal: (y.steal - x.steal) / total };
  });
}

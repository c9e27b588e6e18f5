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
}

export function sample(pids: number[]): ProcSample {
  let ticks = 0;
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwm += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return { at: Date.now(), cpuS: ticks / userHz(), rssMB: (rss * 1024) / 1e6, hwmMB: (hwm * 1024) / 1e6 };
}

/** CPU used between two samples, as a fraction of one CPU (vCPU). */
export const vcpu = (a: ProcSample, b: ProcSample): number => (b.cpuS - a.cpuS) / ((b.at - a.at) / 1000);

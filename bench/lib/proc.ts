import { readFileSync } from 'node:fs';

/**
 * Readings from Linux `/proc/<pid>/…` for processes the bench does not run
 * in-process (the scheduler). Parsing is pure and tested; the readers are thin.
 */

export interface MemoryStatus {
  /** Peak resident set size ("high water mark"), bytes. */
  vmHwmBytes: number;
  /** Current resident set size, bytes. */
  vmRssBytes: number;
}

/** Parse the VmHWM and VmRSS lines of `/proc/<pid>/status` (values are in kB). */
export function parseStatus(text: string): MemoryStatus {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    if (!m) throw new Error(`no ${name} line in /proc status`);
    return Number(m[1]) * 1024;
  };
  return { vmHwmBytes: field('VmHWM'), vmRssBytes: field('VmRSS') };
}

/**
 * CPU time from `/proc/<pid>/stat`, in clock ticks (utime + stime). The
 * second field (comm) may contain spaces and parentheses, so fields are
 * counted from the last `)`.
 */
export function parseStatTicks(text: string): { utime: number; stime: number } {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('malformed /proc stat line');
  // After ")": state is field 3; utime is field 14 and stime field 15.
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('malformed /proc stat line');
  return { utime, stime };
}

/** Clock ticks per second (USER_HZ); 100 on every mainstream Linux build. */
export const CLOCK_TICKS_PER_SECOND = 100;

export function readMemoryStatus(pid: number): MemoryStatus {
  return parseStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/**
 * `/proc/<pid>/schedstat`: nanoseconds on a CPU, nanoseconds waiting on a
 * run queue, timeslices. For a process it is the main thread's (the thread
 * group leader's), which for Node is the event loop.
 */
export function parseSchedstat(text: string): { runNs: number; waitNs: number } {
  const [run, wait] = text.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(run) || !Number.isFinite(wait)) throw new Error('malformed /proc schedstat line');
  return { runNs: run as number, waitNs: wait as number };
}

/**
 * CPU seconds of the process's main thread (for Node: the event loop, where
 * the scheduler's work runs), to the nanosecond: /proc/<pid>/stat counts in
 * 10 ms ticks, too coarse for a few-second window.
 */
export function readMainThreadCpuSeconds(pid: number): number {
  return parseSchedstat(readFileSync(`/proc/${pid}/schedstat`, 'utf8')).runNs / 1e9;
}

/** CPU seconds (user + system) the process has used so far. */
export function readCpuSeconds(pid: number): number {
  const { utime, stime } = parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** The aggregate `cpu` line of `/proc/stat`: busy and total jiffies since boot. */
export function parseCpuTotals(text: string): { busy: number; total: number } {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no aggregate cpu line in /proc/stat');
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** Share of all cores that was busy between two readings (0..1). */
export function busyFraction(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  const dt = b.total - a.total;
  return dt > 0 ? Math.min(1, Math.max(0, (b.busy - a.busy) / dt)) : 0;
}

export function readCpuTotals(): { busy: number; total: number } {
  return parseCpuTotals(readFileSync('/proc/stat', 'utf8'));
}

export interface IoCounters {
  /** read-like and write-like syscalls (read, recv, write, writev, send, …). */
  syscr: number;
  syscw: number;
  rchar: number;
  wchar: number;
}

/** Parse `/proc/<pid>/io`. */
export function parseIo(text: string): IoCounters {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text);
    if (!m) throw new Error(`no ${name} line in /proc io`);
    return Number(m[1]);
  };
  return { syscr: field('syscr'), syscw: field('syscw'), rchar: field('rchar'), wchar: field('wchar') };
}

export function readIo(pid: number): IoCounters {
  return parseIo(readFileSync(`/proc/${pid}/io`, 'utf8'));
}

/**
 * What one process spent on a piece of work, per task: CPU µs and read/write
 * syscalls. On this VM a syscall costs microseconds, so syscalls per task
 * show how well messages are batched.
 */
export interface ProcessCost {
  cpuUsPerTask: number;
  /** The part of cpuUsPerTask spent in the kernel (syscalls, wake-ups). */
  sysUsPerTask: number;
  readsPerTask: number;
  writesPerTask: number;
}

export function costPerTask(before: ProcessSample, after: ProcessSample, tasks: number): ProcessCost {
  return {
    cpuUsPerTask: ((after.cpu - before.cpu) / tasks) * 1e6,
    sysUsPerTask: ((after.sys - before.sys) / tasks) * 1e6,
    readsPerTask: (after.io.syscr - before.io.syscr) / tasks,
    writesPerTask: (after.io.syscw - before.io.syscw) / tasks,
  };
}

export interface ProcessSample {
  /** CPU seconds, user + system. */
  cpu: number;
  /** System CPU seconds. */
  sys: number;
  io: IoCounters;
}

export function sampleProcess(pid: number): ProcessSample {
  const { utime, stime } = parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return { cpu: (utime + stime) / CLOCK_TICKS_PER_SECOND, sys: stime / CLOCK_TICKS_PER_SECOND, io: readIo(pid) };
}

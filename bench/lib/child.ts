import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { RawResult } from './report.ts';

/**
 * Runs one bench group in a child process with a time limit. The child runs
 * in its own process group, so on timeout the whole group (the child and the
 * cluster it started) is killed by that group's id. Output is kept (the last
 * 64 KiB) to explain failures.
 */
export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  output: string;
}

const KEEP = 64 * 1024;

export async function runChild(cmd: string, args: readonly string[], options: { timeoutS: number; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<ChildRun> {
  const child = spawn(cmd, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const keep = (b: Buffer): void => {
    output += b.toString('utf8');
    if (output.length > 2 * KEEP) output = output.slice(-KEEP);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let timedOut = false;
  const killGroup = (): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, options.timeoutS * 1000);
  // If the bench itself is interrupted, take the group down with it.
  const onSignal = (): void => killGroup();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.on('error', (err) => {
      keep(Buffer.from(`spawn failed: ${err.message}\n`));
      resolve([null, null]);
    });
    child.on('close', (c, s) => resolve([c, s]));
  });
  clearTimeout(timer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  // Anything the child left behind in its group goes too.
  killGroup();
  return { code, signal, timedOut, output: output.slice(-KEEP) };
}

/** Parse a JSON-lines results file; lines that do not parse are skipped. */
export function parseResults(text: string): RawResult[] {
  const out: RawResult[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const v = JSON.parse(t) as unknown;
      if (v && typeof v === 'object' && typeof (v as RawResult).name === 'string') out.push(v as RawResult);
    } catch {}
  }
  return out;
}

export function readResults(path: string): RawResult[] {
  return existsSync(path) ? parseResults(readFileSync(path, 'utf8')) : [];
}

/** The last lines of a child's output, for an error message. */
export function tail(text: string, lines = 12): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

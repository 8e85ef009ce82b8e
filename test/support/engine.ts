import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { Client, LocalCluster } from '../../client/index.ts';
import { isAlive, waitFor } from './wait.ts';

/** Absolute path of a file in the repo. */
export const repoPath = (rel: string): string => fileURLToPath(new URL(`../../${rel}`, import.meta.url));

/** Wait until every pid has exited (generous deadline). */
export async function waitForExit(pids: readonly number[], timeoutMs = 30_000): Promise<void> {
  await waitFor(() => pids.every((p) => !isAlive(p)), { timeoutMs, what: `processes ${pids.join(', ')} to exit` });
}

/**
 * One LocalCluster and a connected Client for the whole file; after it both
 * are closed and every process of the cluster has exited. `ready` hands them
 * over (keep them in your own variables).
 */
export function useLocalCluster(options: Parameters<typeof LocalCluster.start>[0], ready: (cluster: LocalCluster, client: Client) => void): void {
  let cluster: LocalCluster | undefined;
  let client: Client | undefined;
  let pids: number[] = [];
  beforeAll(async () => {
    cluster = await LocalCluster.start(options);
    pids = cluster.pids;
    client = await Client.connect(cluster);
    ready(cluster, client);
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.close();
    await waitForExit(pids);
  });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: Array<Record<string, unknown>>;
}

/** Run `recc <args>` (through bin/recc.mjs) to completion. */
export function runRecc(args: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [repoPath('bin/recc.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(options.env ?? {}) } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`recc ${args.join(' ')} did not finish in time`));
    }, options.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, lines: parseJsonLines(stdout) });
    });
  });
}

export function parseJsonLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {}
  }
  return out;
}

/** A long-running `recc` process whose JSON lines are collected as they arrive. */
export function startRecc(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [repoPath('bin/recc.mjs'), ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines: Array<Record<string, unknown>> = [];
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    const parts = (partial + c.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parseJsonLines(parts.join('\n')));
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // 'close', not 'exit': it fires once stdout is drained too, so `lines` holds every line the process wrote.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    get stderr() {
      return stderr;
    },
    waitForEvent: (event: string, timeoutMs = 60_000) => waitFor(() => lines.find((l) => l.event === event), { timeoutMs, what: `event ${event}` }),
  };
}

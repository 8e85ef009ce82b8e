import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import { isAlive, waitFor } from './wait.ts';

/**
 * Helpers for tests that run a real `recc up` child process and talk to it
 * over HTTP, and that check which cluster processes are alive (from the
 * local backend's state files).
 */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RECC_BIN = join(REPO_ROOT, 'bin', 'recc.mjs');

export interface ReccUpProcess {
  url: string;
  port: number;
  stateDir: string;
  child: ChildProcess;
  pid: number;
  ready: Record<string, unknown>;
  /** Everything the process wrote so far. */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL (no cleanup at all) and wait for exit. */
  kill9(): Promise<void>;
}

export function tempStateDir(tag = 'stack'): string {
  return mkdtempSync(join(tmpdir(), `recc-${tag}-`));
}

/** Start `recc up --json` and wait for its ready line. */
export async function startReccUp(
  options: { stateDir?: string; port?: number; env?: Record<string, string>; args?: string[]; timeoutMs?: number } = {},
): Promise<ReccUpProcess> {
  const stateDir = options.stateDir ?? tempStateDir();
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, [RECC_BIN, 'up', '--port', String(port), '--state-dir', stateDir, '--json', ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, RECC_TEST_HOOKS: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  let done = false;
  void exited.then(() => (done = true));
  const ready = await waitFor(
    () => {
      if (done) throw new Error(`recc up exited before it was ready:\n${out}`);
      const line = out.split('\n').find((l) => l.includes('"recc.up.ready"'));
      if (!line) return undefined;
      // `recc up --json` prints its ready event in the CLI's JSON envelope ({ok, command, data}).
      const parsed = JSON.parse(line) as Record<string, unknown>;
      return (parsed.data ?? parsed) as Record<string, unknown>;
    },
    { timeoutMs: options.timeoutMs ?? 60_000, what: 'recc up to be ready' },
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    url: String(ready.url),
    port,
    stateDir,
    child,
    pid: child.pid as number,
    ready,
    output: () => out,
    stop: async () => {
      if (!done) child.kill('SIGTERM');
      return exited;
    },
    kill9: async () => {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface ApiAnswer<T = any> {
  status: number;
  body: T;
}

export async function api<T = any>(baseUrl: string, method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Poll GET /clusters/{id} until `predicate` holds; returns the cluster. */
export async function waitForCluster(baseUrl: string, id: string, predicate: (cluster: any) => boolean, what: string, timeoutMs = 90_000): Promise<any> {
  let last: any;
  try {
    return await waitFor(
      async () => {
        const { body } = await api(baseUrl, 'GET', `/clusters/${id}`);
        last = body?.cluster;
        return last && predicate(last) ? last : undefined;
      },
      { timeoutMs, intervalMs: 100, what },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)?.slice(0, 2000)}`);
  }
}

/**
 * True while the process exists and is not a zombie. In this container PID 1
 * does not reap orphans, so a killed process whose parent is gone (e.g. after
 * a kill -9 of recc up) stays a zombie that `kill(pid, 0)` still finds.
 */
export function running(pid: number): boolean {
  return isAlive(pid);
}

/** `pid: state command` of each process still running, for failure messages. */
export function describePids(pids: number[]): string {
  return pids
    .filter(running)
    .map((pid) => {
      try {
        return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 200)}`;
      } catch {
        return `${pid}: ?`;
      }
    })
    .join('; ');
}

/** Wait until none of `pids` runs (zombies count as gone). */
export async function waitForExit(pids: number[], what: string, timeoutMs = 30_000): Promise<void> {
  try {
    await waitFor(() => pids.every((p) => !running(p)), { timeoutMs, what });
  } catch (err) {
    throw new Error(`${(err as Error).message}; still running: ${describePids(pids)}`);
  }
}

/** Every pid the local backend ever recorded for a cluster (state.json), alive or not. */
export function recordedPids(stateDir: string, clusterId: string): number[] {
  try {
    const state = JSON.parse(readFileSync(join(stateDir, 'clusters', clusterId, 'state.json'), 'utf8')) as { processes: Array<{ pid: number }> };
    return state.processes.map((p) => p.pid);
  } catch {
    return [];
  }
}

/** Processes on this machine whose environment names the cluster (catches anything the state file forgot). */
export function processesOfCluster(clusterId: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'utf8');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (/^\d+ \(.*\) Z /.test(stat)) continue;
      if (environ.includes(`RECC_CLUSTER_ID=${clusterId}\0`)) out.push(Number(name));
    } catch {}
  }
  return out;
}

/** Last resort for test cleanup: kill every process of the clusters under a state dir. */
export function killClusterProcesses(stateDir: string): void {
  let ids: string[] = [];
  try {
    ids = readdirSync(join(stateDir, 'clusters'));
  } catch {
    return;
  }
  for (const id of ids) {
    for (const pid of [...recordedPids(stateDir, id), ...processesOfCluster(id)]) {
      if (!running(pid)) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
  }
}

/** An embedded local stack (in this process) with one token per user, as the console's multi-user mode runs it. */
export async function startUsersStack(label: string, tokens: Readonly<Record<string, string>>): Promise<{ stack: import('../../local/stack.ts').LocalStack; stateDir: string }> {
  const { startLocalStack } = await import('../../local/stack.ts');
  const stateDir = tempStateDir(label);
  const stack = await startLocalStack({
    port: 0,
    stateDir,
    users: Object.entries(tokens).map(([user, token]) => ({ token, identity: { user } })),
    processEnv: process.env,
    periodicJobs: [],
  });
  return { stack, stateDir };
}

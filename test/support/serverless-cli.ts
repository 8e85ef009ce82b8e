import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/**
 * Run the osls `serverless` CLI of this repository (offline) as a child
 * process in its own process group, with a deadline: on timeout the whole
 * group is killed (esbuild's service process included), so a test never
 * leaves a process behind.
 */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export function runServerless(args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<CliRun> {
  const bin = join(REPO_ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', CI: 'true', FORCE_COLOR: '0' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {}
    };
    // After reporting a failed build, osls can hang instead of exiting; end it soon after the report.
    let failing: NodeJS.Timeout | undefined;
    const watch = () => {
      if (!failing && /Build failed|^Error:/m.test(stdout + stderr)) failing = setTimeout(killGroup, 5_000);
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      watch();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      watch();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs ?? 240_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // serverless-esbuild can leave its esbuild service running (holding the
    // pipes) after a failed build: once serverless exits, end the group.
    child.on('exit', () => killGroup());
    child.on('close', (code) => {
      clearTimeout(timer);
      if (failing) clearTimeout(failing);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** The pretty-printed JSON object `serverless invoke local` prints (after any log lines). */
export function invokeResult(stdout: string): any {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l === '{');
  if (start < 0) throw new Error(`no JSON result in output:\n${stdout}`);
  const end = lines.findIndex((l, i) => i > start && l === '}');
  return JSON.parse(lines.slice(start, end + 1).join('\n'));
}

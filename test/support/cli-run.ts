import { spawn } from 'node:child_process';
import { RECC_BIN, REPO_ROOT } from './local-stack.ts';

export { RECC_BIN, REPO_ROOT };

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `node bin/recc.mjs ...args` to completion, as a user would.
 * `env` replaces the whole environment when given (pass PATH and HOME
 * yourself); otherwise the child inherits this process's environment.
 */
export function runCli(args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [RECC_BIN, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

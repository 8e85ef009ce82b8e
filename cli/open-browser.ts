import { spawn } from 'node:child_process';

/**
 * Opening a link in the user's browser (`recc cluster dashboard`, `recc
 * console`). `$BROWSER` wins when set (the convention of xdg-utils and
 * Python's webbrowser); otherwise the platform's opener. The opener runs
 * detached with no output, and a failure only means the user opens the
 * printed link by hand: the link is always printed first.
 */
export function browserCommand(url: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): [string, string[]] {
  const browser = env.BROWSER?.trim();
  if (browser) return [browser, [url]];
  if (platform === 'win32') return ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]];
  if (platform === 'darwin') return ['open', [url]];
  return ['xdg-open', [url]];
}

/** Whether to open by default: a person at a terminal, not a script or CI (`--open`/`--no-open` override). */
export function shouldOpen(flag: boolean | undefined, json: boolean | undefined, isTty: boolean = Boolean(process.stdout.isTTY), env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag !== undefined) return flag;
  return !json && isTty && !env.CI;
}

/** Starts the opener; resolves true once it started, false if it could not (never throws). */
export function openInBrowser(url: string): Promise<boolean> {
  const [command, args] = browserCommand(url);
  return new Promise((resolve) => {
    try {
      const child = spawn(command, args, { detached: true, stdio: 'ignore', windowsHide: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

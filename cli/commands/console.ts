import type { Command } from 'commander';

interface ConsoleFlags {
  apiUrl?: string;
  port?: string;
  region?: string;
  open?: boolean;
}

/**
 * `recc console`: the control-plane console of a deployed stage, through a
 * loopback proxy that signs every request with your AWS credentials
 * (local/console/proxy.ts; docs/console.md). Prints a one-time link and
 * serves until interrupted. (`recc up` serves its own console at /console.)
 */
export function registerConsole(program: Command): void {
  program
    .command('console')
    .description("open a deployed stage's web console: a local proxy signs each request with your AWS credentials; prints (and at a terminal, opens) a one-time link")
    .option('--api-url <url>', "the stage's API URL (default: $RECC_API_URL)")
    .option('--port <n>', 'loopback port (default: a free one)')
    .option('--region <region>', 'signing region (default: the one in the API host name, else $AWS_REGION)')
    .option('--open', 'open the link in a browser ($BROWSER, else the system opener); the default at a terminal')
    .option('--no-open', 'only print the link')
    .action(async (flags: ConsoleFlags) => {
      const { ValidationError } = await import('../../shared/core/errors.ts');
      const apiUrl = flags.apiUrl ?? process.env.RECC_API_URL;
      const problems: Array<{ path: string; message: string }> = [];
      let url: URL | undefined;
      if (apiUrl === undefined) problems.push({ path: 'apiUrl', message: "is required: --api-url https://<id>.execute-api.<region>.amazonaws.com (the stage's HttpApiUrl) or RECC_API_URL" });
      else {
        try {
          url = new URL(apiUrl);
          if (url.protocol !== 'https:') problems.push({ path: 'apiUrl', message: `must be https (a deployed stage), got ${JSON.stringify(url.protocol)}` });
        } catch {
          problems.push({ path: 'apiUrl', message: `must be a URL, got ${JSON.stringify(apiUrl.slice(0, 200))}` });
        }
      }
      const port = flags.port === undefined ? 0 : Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) problems.push({ path: 'port', message: `must be a port number, got ${JSON.stringify(flags.port)}` });
      if (problems.length || !url) throw new ValidationError('invalid options for recc console', problems);
      const [{ makeSigner, regionOf }, { startConsoleProxy }, { createLogger }] = await Promise.all([
        import('../../client/api-client.ts'),
        import('../../local/console/proxy.ts'),
        import('../../shared/core/logger.ts'),
      ]);
      const sign = await makeSigner(flags.region ?? regionOf(url, process.env.AWS_REGION), undefined);
      const proxy = await startConsoleProxy({ apiUrl: url.toString(), sign, port, logger: createLogger({ level: 'warn', write: (line) => process.stderr.write(`${line}\n`) }) });
      const link = proxy.link();
      process.stdout.write(`recc console for ${url.origin}: open within a minute (the link works once)\n  ${link}\nCtrl-C stops it.\n`);
      const { openInBrowser, shouldOpen } = await import('../open-browser.ts');
      if (shouldOpen(flags.open, false) && !(await openInBrowser(link))) process.stdout.write('(could not start a browser; open the link above)\n');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await proxy.close();
    });
}

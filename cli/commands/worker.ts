import type { Command } from 'commander';

// Placeholder until the owning issue lands: the command is listed but says so.
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('recc worker is not available yet\n');
      process.exitCode = 1;
    });
}

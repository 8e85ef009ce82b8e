import type { Command } from 'commander';

// Placeholder until the owning issue lands: the command is listed but says so.
export function registerScheduler(program: Command): void {
  program
    .command('scheduler')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('recc scheduler is not available yet\n');
      process.exitCode = 1;
    });
}

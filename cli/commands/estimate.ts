import type { Command } from 'commander';

// Placeholder until the owning issue lands: the command is listed but says so.
export function registerEstimate(program: Command): void {
  program
    .command('estimate')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('recc estimate is not available yet\n');
      process.exitCode = 1;
    });
}

import type { Command } from 'commander';

// Placeholder until the owning issue lands: the command is listed but says so.
export function registerCost(program: Command): void {
  program
    .command('cost')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('recc cost is not available yet\n');
      process.exitCode = 1;
    });
}

import type { Command } from 'commander';

// Placeholder until the owning issue lands: the command is listed but says so.
export function registerUp(program: Command): void {
  program
    .command('up')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('recc up is not available yet\n');
      process.exitCode = 1;
    });
}

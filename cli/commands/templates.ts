import type { Command } from 'commander';

// Placeholder until the owning issue lands: the command is listed but says so.
export function registerTemplates(program: Command): void {
  program
    .command('templates')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('recc templates is not available yet\n');
      process.exitCode = 1;
    });
}

import type { Command } from 'commander';

// Placeholder until the owning issue lands: the command is listed but says so.
export function registerRender(program: Command): void {
  program
    .command('render')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('recc render is not available yet\n');
      process.exitCode = 1;
    });
}

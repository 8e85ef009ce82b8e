import type { Command } from 'commander';

/** `recc templates`: the cluster templates in `templates/`, with what each takes and costs. */
export function registerTemplates(program: Command): void {
  program
    .command('templates')
    .description('list the cluster templates (use one with --template NAME)')
    .option('--json', 'print the templates as JSON: [{name, description, spec}]')
    .action(async (flags: { json?: boolean }) => {
      const { listTemplates } = await import('../../shared/spec/templates.ts');
      const templates = listTemplates();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(templates, null, 2)}\n`);
        return;
      }
      const { estimate } = await import('../../shared/plan/planner.ts');
      const { formatTemplates } = await import('../../shared/plan/format.ts');
      const rows = templates.map((t) => ({ template: t, ...estimate({ template: t.name }) }));
      process.stdout.write(`${formatTemplates(rows)}\n`);
    });
}

import type { Command } from 'commander';

/** `recc templates`: the cluster templates in `templates/`, with what each takes and costs. */
export function registerTemplates(program: Command): void {
  program
    .command('templates')
    .description('list the cluster templates (use one with --template NAME)')
    .option('--json', 'print the templates, [{name, description, spec}], in the JSON envelope (see README)')
    .action(async (flags: { json?: boolean }) => {
      const { listTemplates } = await import('../../shared/spec/templates.ts');
      const templates = listTemplates();
      if (flags.json) {
        const { printJson } = await import('../output.ts');
        printJson(templates);
        return;
      }
      const { estimate } = await import('../../shared/plan/planner.ts');
      const { formatTemplates } = await import('../../shared/plan/format.ts');
      const rows = templates.map((t) => ({ template: t, ...estimate({ template: t.name }) }));
      process.stdout.write(`${formatTemplates(rows)}\n`);
    });
}

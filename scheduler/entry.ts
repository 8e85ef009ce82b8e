/**
 * Direct process entry (`node --import tsx/esm scheduler/entry.ts …` or its
 * bundle): the same options as `recc scheduler`, without loading the whole CLI.
 */
import { Command, CommanderError } from 'commander';
import { registerScheduler } from '../cli/commands/scheduler.ts';
import { ValidationError, formatErrorForHumans } from '../shared/core/errors.ts';
// Statically: this process runs the engine, and in its bundle (comm/launch.ts) the engine then sits in
// the entry file itself instead of in a chain of chunks read one after another at start.
import * as main from './main.ts';

const program = new Command('recc').exitOverride();
registerScheduler(program, () => Promise.resolve(main));
try {
  await program.parseAsync(['node', 'recc', 'scheduler', ...process.argv.slice(2)]);
} catch (err) {
  // Commander already printed help/usage; its exit code 0 means --help.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  if (err instanceof ValidationError) process.stderr.write(`error: ${formatErrorForHumans(err)}\n`);
  else process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(err instanceof ValidationError ? 2 : 1);
}

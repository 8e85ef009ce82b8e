/**
 * Runs a job entry given as module + export: imports the module, calls the
 * export with the params from RECC_JOB_PARAMS, and exits 0 when it resolves,
 * 1 (with the error on stderr) when it throws.
 *
 *   node --import tsx adapters/jobs/run-entry.ts <module path> <export name>
 */
import { pathToFileURL } from 'node:url';

const [modulePath, exportName] = process.argv.slice(2);
// Issue 21: with RECC_LOG_GROUP set, the driver's lines also go to CloudWatch Logs, tokens scrubbed (docs/logs.md).
const shipping = process.env.RECC_LOG_GROUP ? (await import('../logs/process.ts')).startLogShipping('driver') : undefined;
const exit = async (code: number): Promise<never> => {
  await shipping?.close();
  process.exit(code);
};
try {
  if (!modulePath || !exportName) throw new Error('usage: run-entry.ts <module> <export>');
  const mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  const fn = mod[exportName];
  if (typeof fn !== 'function') throw new Error(`${modulePath} has no function export ${exportName}`);
  const params = JSON.parse(process.env.RECC_JOB_PARAMS ?? '{}') as Record<string, unknown>;
  await (fn as (p: Record<string, unknown>) => unknown)(params);
  await exit(0);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await exit(1);
}

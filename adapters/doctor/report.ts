import { formatColumns } from '../../shared/core/text.ts';

/**
 * The result of `recc doctor --stage NAME`: one row per check, each with what
 * was seen and, for a failure, the command or change that fixes it.
 */
export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found (names, ids, values). */
  detail: string;
  /** What to do, for fail and warn. */
  fix?: string;
}

export interface DoctorReport {
  stage: string;
  region: string;
  stackName: string;
  /** False when any check failed (warnings do not fail). */
  ok: boolean;
  checks: CheckResult[];
}

const MARK: Record<CheckStatus, string> = { pass: 'PASS', fail: 'FAIL', warn: 'WARN', skip: 'SKIP' };

/** The table people read: CHECK | RESULT | DETAIL, then a numbered fix per failure and warning. */
export function formatDoctorReport(report: DoctorReport): string {
  const rows = [['CHECK', 'RESULT', 'DETAIL'], ...report.checks.map((c) => [c.title, MARK[c.status], c.detail])];
  const fixes = report.checks.filter((c) => (c.status === 'fail' || c.status === 'warn') && c.fix);
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const head = `recc doctor: stage ${report.stage}, stack ${report.stackName}, region ${report.region} (read-only)`;
  const tail = failed === 0 ? 'All checks passed.' : `${failed} check${failed === 1 ? '' : 's'} failed.`;
  return [head, '', formatColumns(rows), '', ...(fixes.length ? ['How to fix:', ...fixes.map((c, i) => `${i + 1}. ${c.title}: ${c.fix}`), ''] : []), tail].join('\n');
}

import { ReccError } from '../../shared/core/errors.ts';

/** AWS Budgets refused or failed a call. 502: an upstream failed. */
export class BudgetSyncFailedError extends ReccError {
  readonly budgetName: string;
  constructor(budgetName: string, message: string, options: { cause?: unknown } = {}) {
    super(`budget ${budgetName}: ${message}`, { statusCode: 502, ...options });
    this.budgetName = budgetName;
  }
}

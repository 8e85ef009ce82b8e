/**
 * Cloud budgets kept per user (`adapters/budgets/`: AWS Budgets). The cost
 * reporter calls `ensureUserBudget` on every run; it must be idempotent
 * (create, or update what exists; never a second budget for one user).
 */
export interface UserBudgetRequest {
  user: string;
  /** Monthly limit in dollars. */
  amountUsd: number;
}

export interface UserBudgetResult {
  budgetName: string;
  /** What the call did. */
  outcome: 'created' | 'updated';
}

export interface BudgetKeeper {
  ensureUserBudget(request: UserBudgetRequest): Promise<UserBudgetResult>;
}

/**
 * Dollar amounts for people: `$1,024.08`, whole amounts without cents
 * (`$1,000`), as in "forecasted month $1,024.08 > $1,000 threshold on a
 * $2,000 budget".
 */
const cents = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
const whole = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 0, maximumFractionDigits: 0 });

export function formatUsd(amount: number): string {
  const rounded = Math.round(amount * 100) / 100;
  return Number.isInteger(rounded) ? whole.format(rounded) : cents.format(rounded);
}

/** Always with cents, for tables: `$3.00`. */
export function formatUsdCents(amount: number): string {
  return cents.format(Math.round(amount * 100) / 100);
}

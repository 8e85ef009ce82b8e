/**
 * Month-to-date forecast (pure). Linear on elapsed days: the month is
 * forecast to cost `monthToDate / elapsedDays × daysInMonth`, where
 * `elapsedDays` is the fractional number of days since 00:00 UTC on the 1st,
 * floored at one day so that the first hours of a month do not extrapolate a
 * single cluster-hour into a month of them. All months are UTC calendar
 * months, like AWS Budgets.
 */
const DAY = 86_400_000;

export interface MonthPeriod {
  /** `YYYY-MM`. */
  id: string;
  start: number;
  end: number;
  days: number;
}

export function monthOf(now: number): MonthPeriod {
  const d = new Date(now);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  const id = `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  return { id, start, end, days: Math.round((end - start) / DAY) };
}

export interface MonthForecast {
  month: string;
  monthToDate: number;
  forecast: number;
  elapsedDays: number;
  daysInMonth: number;
}

export function forecastMonth(monthToDate: number, now: number): MonthForecast {
  const month = monthOf(now);
  const elapsed = Math.min(month.days, Math.max(1, (now - month.start) / DAY));
  return {
    month: month.id,
    monthToDate: round2(monthToDate),
    forecast: round2((monthToDate / elapsed) * month.days),
    elapsedDays: Math.round(elapsed * 100) / 100,
    daysInMonth: month.days,
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

import { describe, expect, it } from 'vitest';
import { TableOptionsError } from '../../../shared/tables/errors.ts';
import { coerceCondition, daysFromIsoDate, isoDateFromDays, parseWhere, rangeMayMatch, valueMatches } from '../../../shared/tables/where.ts';

describe('parseWhere', () => {
  it('turns bare values into eq and keeps conditions in order', () => {
    expect(parseWhere({ sid: 'AAPL', date: { gte: '2024-01-01', lt: '2024-02-01' } })).toEqual([
      { column: 'sid', condition: { eq: 'AAPL' } },
      { column: 'date', condition: { gte: '2024-01-01', lt: '2024-02-01' } },
    ]);
    expect(parseWhere(undefined)).toEqual([]);
  });

  it('names every problem: unknown operator, bad value, empty condition, non-array in', () => {
    let err: unknown;
    try {
      parseWhere({ a: { between: [1, 2] }, b: null, c: {}, d: { in: 'x' }, e: { gt: NaN }, constructor: { eq: [] } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TableOptionsError);
    const paths = (err as TableOptionsError).details.map((d) => d.path);
    expect(paths).toEqual(['where.a.between', 'where.b', 'where.c', 'where.d.in', 'where.e.gt', 'where.constructor.eq']);
  });

  it('rejects a where that is not an object', () => {
    expect(() => parseWhere([1])).toThrow(TableOptionsError);
    expect(() => parseWhere('date > 1')).toThrow(/expected an object/);
  });

  it('treats a JSON "__proto__" key as a column, not a prototype', () => {
    const w = JSON.parse('{"__proto__": {"eq": 1}}') as Record<string, unknown>;
    expect(parseWhere(w)).toEqual([{ column: '__proto__', condition: { eq: 1 } }]);
  });
});

describe('valueMatches / rangeMayMatch', () => {
  it('compares numbers, bigints and strings; null matches nothing', () => {
    expect(valueMatches({ gte: 2, lt: 5 }, 2)).toBe(true);
    expect(valueMatches({ gte: 2, lt: 5 }, 5)).toBe(false);
    expect(valueMatches({ eq: 3 }, 3n)).toBe(true);
    expect(valueMatches({ in: ['A', 'B'] }, 'B')).toBe(true);
    expect(valueMatches({ ne: 'A' }, 'B')).toBe(true);
    expect(valueMatches({ ne: 'A' }, null)).toBe(false);
    expect(valueMatches({ eq: '3' }, 3)).toBe(false);
  });

  it('prunes a range only when no value inside can match', () => {
    expect(rangeMayMatch({ gt: 10 }, 0, 10)).toBe(false);
    expect(rangeMayMatch({ gte: 10 }, 0, 10)).toBe(true);
    expect(rangeMayMatch({ lt: 0 }, 0, 10)).toBe(false);
    expect(rangeMayMatch({ eq: 11 }, 0, 10)).toBe(false);
    expect(rangeMayMatch({ in: [11, 5] }, 0, 10)).toBe(true);
    expect(rangeMayMatch({ ne: 4 }, 4, 4)).toBe(false);
    expect(rangeMayMatch({ eq: 'm' }, 'a', 'k')).toBe(false);
    // Unknown or foreign-kind bounds never prune.
    expect(rangeMayMatch({ eq: 11 }, undefined, 10)).toBe(true);
    expect(rangeMayMatch({ eq: 'x' }, 0, 10)).toBe(true);
  });
});

describe('dates', () => {
  it('round-trips ISO dates and days and rejects impossible dates', () => {
    expect(daysFromIsoDate('1970-01-02')).toBe(1);
    expect(isoDateFromDays(19723)).toBe('2024-01-01');
    expect(daysFromIsoDate('2024-02-30')).toBeUndefined();
    expect(daysFromIsoDate('2024-1-1')).toBeUndefined();
  });

  it('coerces a condition to the column domain, naming values that do not fit', () => {
    expect(coerceCondition('date', { gte: '2024-01-01', lt: new Date(Date.UTC(2024, 1, 1)) }, 'days')).toEqual({ condition: { gte: 19723, lt: 19754 }, problems: [] });
    const bad = coerceCondition('date', { eq: 'yesterday' }, 'days');
    expect(bad.problems).toEqual([{ path: 'where.date.eq', message: expect.stringContaining("a date 'YYYY-MM-DD'") }]);
    expect(coerceCondition('px', { gt: 'high' }, 'number').problems[0]?.path).toBe('where.px.gt');
  });
});

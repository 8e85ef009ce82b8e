import { describe, expect, it } from 'vitest';
import { formatColumns, formatKeyValues } from '../../../shared/core/text.ts';

describe('Function: formatColumns', () => {
  it('aligns every column to its widest cell, two spaces apart, without padding the last column', () => {
    // Act
    const text = formatColumns([
      ['ID', 'STATUS', 'NOTE'],
      ['c-1', 'RUNNING', 'a long note'],
      ['c-22', 'FAILED', 'x'],
    ]);

    // Assess
    expect(text.split('\n')).toEqual(['ID    STATUS   NOTE', 'c-1   RUNNING  a long note', 'c-22  FAILED   x']);
  });

  it('leaves no trailing spaces when the last cells of a row are empty', () => {
    // Act
    const text = formatColumns([
      ['USER', 'COST', 'TOP'],
      ['alice', '$1.00', 'c-1'],
      ['TOTAL', '$1.00', ''],
    ]);

    // Assess
    expect(text.split('\n')[2]).toBe('TOTAL  $1.00');
  });

  it('returns an empty string when given no rows', () => {
    expect(formatColumns([])).toBe('');
  });
});

describe('Function: formatKeyValues', () => {
  it('pads the keys to the longest and prefixes each line with the indent', () => {
    // Act
    const text = formatKeyValues(
      [
        ['id', 'c-1'],
        ['last activity', 'now'],
      ],
      '  ',
    );

    // Assess
    expect(text.split('\n')).toEqual(['  id             c-1', '  last activity  now']);
  });
});

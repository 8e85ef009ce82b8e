import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/core/errors.ts';
import { parseSchedulerStatus } from '../../../shared/engine/scheduler-status.ts';

const status = {
  workers: 2,
  workerNames: ['w0', 'w1'],
  tasksProcessing: 1,
  tasksQueued: 0,
  tasksInMemory: 3,
  tasksTotal: 4,
  clientsConnected: 1,
  lastActivityAt: null,
  uptimeSeconds: 12,
};

describe('Function: parseSchedulerStatus', () => {
  it('returns a well-formed status as it is', () => {
    expect(parseSchedulerStatus(status)).toEqual(status);
  });

  it('names every bad or missing field', () => {
    let caught: unknown;
    try {
      parseSchedulerStatus({ ...status, workers: -1, workerNames: 'w0', tasksTotal: undefined });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).details.map((d) => d.path).sort()).toEqual(['tasksTotal', 'workerNames', 'workers']);
    expect(() => parseSchedulerStatus('<html>')).toThrow(ValidationError);
  });
});

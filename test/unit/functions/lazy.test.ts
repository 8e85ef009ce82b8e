import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { lazyHandler } from '../../../functions/commons/lazy.ts';

const context = { awsRequestId: 'req-1' } as Context;

describe('Function: lazyHandler', () => {
  it('builds once and reuses the handler when called many times, also concurrently', async () => {
    // Prepare
    let builds = 0;
    const handler = lazyHandler(async () => {
      builds += 1;
      await Promise.resolve();
      return async (event: number) => event * 2;
    });

    // Act
    const first = await Promise.all([handler(1, context), handler(2, context)]);
    const later = await handler(3, context);

    // Assess
    expect(first).toEqual([2, 4]);
    expect(later).toBe(6);
    expect(builds).toBe(1);
  });

  it('does not build anything when the module is only imported', () => {
    // Prepare
    let builds = 0;

    // Act
    lazyHandler(() => {
      builds += 1;
      return async () => 'never';
    });

    // Assess
    expect(builds).toBe(0);
  });

  it('rejects the call and builds again on the next call when a build fails', async () => {
    // Prepare
    let builds = 0;
    const handler = lazyHandler(() => {
      builds += 1;
      if (builds === 1) throw new Error('RECC_TABLE_NAME is not set');
      return async (event: string) => `ok ${event}`;
    });

    // Act
    const failed = handler('a', context);

    // Assess
    await expect(failed).rejects.toThrow('RECC_TABLE_NAME is not set');
    await expect(handler('b', context)).resolves.toBe('ok b');
    expect(builds).toBe(2);
  });
});

import { describe, expect, it } from 'vitest';
import { defaultClusterName } from '../../../client/cluster-name.ts';

describe('Function: defaultClusterName', () => {
  const at = new Date('2026-12-04T18:37:59Z');

  it('names a cluster after its template or job and the UTC minute', () => {
    expect(defaultClusterName({ template: 'small' }, at)).toBe('small-dec04-1837');
    expect(defaultClusterName({ template: 'small', job: 'nightly' }, at)).toBe('job-nightly-dec04-1837');
    expect(defaultClusterName({}, at)).toBe('cluster-dec04-1837');
  });

  it('stays within the 100 characters a name may have, keeping the time', () => {
    const name = defaultClusterName({ job: 'x'.repeat(200) }, at);
    expect(name).toHaveLength(100);
    expect(name.endsWith('-dec04-1837')).toBe(true);
  });
});

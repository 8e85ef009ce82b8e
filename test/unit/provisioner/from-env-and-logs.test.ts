import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseClusterTarget } from '../../../client/from-env.ts';
import { parseOffsets, readClusterLogs } from '../../../local/logs.ts';
import { ValidationError } from '../../../shared/core/errors.ts';

describe('Function: parseClusterTarget', () => {
  it('reads local, local:N, template:NAME and id:ID', () => {
    expect(parseClusterTarget({}, 3)).toEqual({ kind: 'local', nWorkers: 3 });
    expect(parseClusterTarget({ RECC_CLUSTER: 'local' }, 3)).toEqual({ kind: 'local', nWorkers: 3 });
    expect(parseClusterTarget({ RECC_CLUSTER: ' local:4 ' }, 3)).toEqual({ kind: 'local', nWorkers: 4 });
    expect(parseClusterTarget({ RECC_CLUSTER: 'template:large-cluster-large-workers', RECC_API_URL: 'http://127.0.0.1:4600', RECC_JOB: 'nightly' }, 3)).toEqual({
      kind: 'template',
      template: 'large-cluster-large-workers',
      apiUrl: 'http://127.0.0.1:4600',
      job: 'nightly',
    });
    expect(parseClusterTarget({ RECC_CLUSTER: 'id:c-abc123' }, 3)).toEqual({ kind: 'id', id: 'c-abc123' });
  });

  it('takes a bare cluster id (as `recc cluster list` shows it) as id:ID', () => {
    expect(parseClusterTarget({ RECC_CLUSTER: 'c-3f9a1b', RECC_API_URL: 'http://127.0.0.1:4600' }, 3)).toEqual({ kind: 'id', id: 'c-3f9a1b', apiUrl: 'http://127.0.0.1:4600' });
  });

  it('names every accepted form in the message itself, not only in details', () => {
    expect(() => parseClusterTarget({ RECC_CLUSTER: 'my-cluster' }, 2)).toThrow(
      'invalid RECC_CLUSTER: "my-cluster" is not understood; use local, local:N, template:NAME, id:ID (or a bare cluster id such as c-3f9a1b)',
    );
  });

  it('throws a ValidationError naming RECC_CLUSTER when the value is not understood', () => {
    for (const value of ['remote', 'local:0', 'local:x', 'template:', 'template:../etc', 'id:UPPER']) {
      let caught: unknown;
      try {
        parseClusterTarget({ RECC_CLUSTER: value }, 2);
      } catch (err) {
        caught = err;
      }
      expect(caught, value).toBeInstanceOf(ValidationError);
      expect((caught as ValidationError).details[0]?.path).toBe('RECC_CLUSTER');
    }
  });
});

describe('Function: readClusterLogs', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'recc-logs-'));
  const logs = join(stateDir, 'clusters', 'c-1', 'logs');
  mkdirSync(logs, { recursive: true });
  writeFileSync(join(logs, 'scheduler.log'), 'line one\nline two\n');
  writeFileSync(join(logs, 'worker-10.log'), 'w10\n');
  writeFileSync(join(logs, 'worker-2.log'), 'w2 a\nw2 b\n');
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('returns every log, scheduler first and workers in numeric order', async () => {
    const out = await readClusterLogs(stateDir, 'c-1');
    expect(out.files.map((f) => [f.name, f.component, f.offset, f.content])).toEqual([
      ['scheduler.log', 'scheduler', 0, 'line one\nline two\n'],
      ['worker-2.log', 'worker', 0, 'w2 a\nw2 b\n'],
      ['worker-10.log', 'worker', 0, 'w10\n'],
    ]);
  });

  it('continues from offsets, filters by component and tails at a line boundary', async () => {
    const follow = await readClusterLogs(stateDir, 'c-1', { component: 'worker', offsets: parseOffsets('worker-2.log:5,worker-10.log:4') });
    expect(follow.files.map((f) => [f.name, f.offset, f.content])).toEqual([
      ['worker-2.log', 5, 'w2 b\n'],
      ['worker-10.log', 4, ''],
    ]);
    const tail = await readClusterLogs(stateDir, 'c-1', { component: 'scheduler', tailBytes: 12 });
    expect(tail.files[0]).toMatchObject({ offset: 9, content: 'line two\n' });
  });

  it('returns no files for a cluster without logs', async () => {
    expect(await readClusterLogs(stateDir, 'c-none')).toEqual({ clusterId: 'c-none', files: [] });
  });
});

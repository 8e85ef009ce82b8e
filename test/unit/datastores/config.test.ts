import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDatastoresConfig } from '../../../adapters/datastores/load-config.ts';
import { StoreRegistry } from '../../../adapters/datastores/open.ts';
import { DatastoreConfigError } from '../../../shared/datastores/errors.ts';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'recc-dscfg-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const FILE = `
stores:
  FP_LOCAL: { type: local, root: cache }
  S3: { type: s3, bucket: research-data, prefix: team/, region: eu-west-1 }
read: [FP_LOCAL, S3]
write: S3
`;

describe('datastore configuration', () => {
  it('defaults to one LOCAL store under .recc/data in the working directory', async () => {
    const cwd = await tmp();
    const c = loadDatastoresConfig({ cwd, home: await tmp(), env: {} });
    expect(c.read).toEqual(['LOCAL']);
    expect(c.write).toBe('LOCAL');
    expect(c.stores.LOCAL).toEqual({ type: 'local', root: join(cwd, '.recc/data') });
  });

  it('layers home file < cwd file < env < override; relative roots resolve against the file', async () => {
    const cwd = await tmp();
    const home = await tmp();
    await writeFile(join(home, 'recc.datastores.yaml'), 'stores:\n  HOME: { type: local, root: h }\nread: [HOME]\nwrite: HOME\n');
    await writeFile(join(cwd, 'recc.datastores.yaml'), FILE);
    const c = loadDatastoresConfig({ cwd, home, env: {} });
    expect(Object.keys(c.stores).sort()).toEqual(['FP_LOCAL', 'HOME', 'LOCAL', 'S3']);
    expect(c.stores.HOME).toEqual({ type: 'local', root: join(home, 'h') });
    expect(c.stores.FP_LOCAL).toEqual({ type: 'local', root: join(cwd, 'cache') });
    expect(c.stores.S3).toEqual({ type: 's3', bucket: 'research-data', prefix: 'team/', region: 'eu-west-1' });
    expect(c.read).toEqual(['FP_LOCAL', 'S3']);
    const e = loadDatastoresConfig({ cwd, home, env: { RECC_DATASTORES_READ: 'LOCAL, S3', RECC_DATASTORES_WRITE: 'LOCAL' } });
    expect(e.read).toEqual(['LOCAL', 'S3']);
    expect(e.write).toBe('LOCAL');
    const o = loadDatastoresConfig({ cwd, home, env: { RECC_DATASTORES_READ: 'LOCAL' }, override: { read: ['HOME'] } });
    expect(o.read).toEqual(['HOME']);
    const reg = new StoreRegistry(c);
    expect(reg.readOrder().map((s) => s.location)).toEqual([`local:${join(cwd, 'cache')}`, 's3://research-data/team/']);
  });

  it('an unknown store name is an error naming the store and the known ones', async () => {
    const err = (() => {
      try {
        loadDatastoresConfig({ cwd: '/nonexistent-recc', home: '/nonexistent-recc', env: { RECC_DATASTORES_READ: 'FP_LOCAL,LOCAL', RECC_DATASTORES_WRITE: 'S3' } });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DatastoreConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('unknown store "FP_LOCAL"');
    expect(msg).toContain('unknown store "S3"');
    expect(msg).toContain('expected one of LOCAL');
    expect((err as DatastoreConfigError).details.map((d) => d.path)).toEqual(['read.0', 'write']);
  });

  it('a malformed file names the file, the field and what was expected', async () => {
    const cwd = await tmp();
    await writeFile(join(cwd, 'recc.datastores.yaml'), 'stores:\n  S3: { type: s3, bucket: Bad_Bucket }\n  X: { type: ftp }\nread: []\nbogus: 1\n');
    let err: unknown;
    try {
      loadDatastoresConfig({ cwd, home: await tmp(), env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DatastoreConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain(join(cwd, 'recc.datastores.yaml'));
    expect(msg).toContain('stores.S3.bucket');
    expect(msg).toContain('S3 bucket name');
    expect(msg).toContain('stores.X');
    expect(msg).toContain('read');
    expect(msg).toContain('bogus');
    await writeFile(join(cwd, 'recc.datastores.yaml'), 'stores: [unclosed');
    expect(() => loadDatastoresConfig({ cwd, home: cwd, env: {} })).toThrow(/cannot read datastore configuration .*expected YAML/s);
  });

  it('the cache must be a local store', () => {
    expect(() =>
      loadDatastoresConfig({
        cwd: '/nonexistent-recc',
        home: '/nonexistent-recc',
        env: {},
        override: { stores: { S3: { type: 's3', bucket: 'abc' } }, cache: { store: 'S3' } },
      }),
    ).toThrow(/cache.store: store "S3" is s3; expected a local store/);
  });
});

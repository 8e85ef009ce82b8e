import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/core/errors.ts';
import { DEFAULT_SPEC } from '../../../shared/spec/defaults.ts';
import { SpecValidationError } from '../../../shared/spec/errors.ts';
import { mergeSpecInputs, resolveSpec, validateSpec, validateSpecInput } from '../../../shared/spec/resolve.ts';

/** `path: message` lines of the SpecValidationError thrown by resolveSpec. */
function problems(request: Parameters<typeof resolveSpec>[0], options?: Parameters<typeof resolveSpec>[1]): string[] {
  try {
    resolveSpec(request, options);
  } catch (err) {
    if (err instanceof SpecValidationError) return err.details.map((d) => `${d.path}: ${d.message}`);
    throw err;
  }
  return [];
}

const dir = mkdtempSync(join(tmpdir(), 'recc-spec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function yamlFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('Function: resolveSpec', () => {
  describe('Merge order', () => {
    it('returns the built-in default when given nothing', () => {
      // Act
      const spec = resolveSpec({});
      // Assess
      expect(spec).toEqual({
        instanceType: 'c5.xlarge',
        nWorkers: 20,
        workerCpu: 1,
        workerMemoryGiB: 1.5,
        schedulerCpu: 1,
        schedulerMemoryGiB: 2,
        resources: {},
        env: {},
        idleTimeoutMinutes: 30,
        maxLifetimeHours: 24,
        tags: {},
      });
      expect(spec).not.toBe(DEFAULT_SPEC);
    });

    it('applies defaults, then the template, then the overrides, field by field', () => {
      // Prepare: the template changes instance type and worker size; overrides change the count and one size.
      const path = yamlFile(
        'order.yaml',
        'description: order test\nspec:\n  instanceType: m5.2xlarge\n  nWorkers: 4\n  workerCpu: 2\n  workerMemoryGiB: 6\n',
      );
      // Act
      const spec = resolveSpec({ template: path, overrides: { nWorkers: 9, workerMemoryGiB: 7 } });
      // Assess
      expect(spec.instanceType).toBe('m5.2xlarge'); // template over default
      expect(spec.workerCpu).toBe(2); // template over default
      expect(spec.nWorkers).toBe(9); // override over template
      expect(spec.workerMemoryGiB).toBe(7); // override over template
      expect(spec.schedulerCpu).toBe(DEFAULT_SPEC.schedulerCpu); // default where neither speaks
      expect(spec.idleTimeoutMinutes).toBe(30);
    });

    it('uses a named template from templates/ when given its name', () => {
      const spec = resolveSpec({ template: 'memory-heavy-r5' });
      expect(spec.instanceType).toBe('r5.2xlarge');
      expect(spec.workerMemoryGiB).toBe(14);
    });

    it('merges resources, env and tags key by key, and removes a key set to null', () => {
      // Prepare
      const path = yamlFile(
        'maps.yaml',
        'spec:\n  instanceType: g5.xlarge\n  resources: {GPU: 1, fast-disk: 1}\n  env: {A: "1", B: "2"}\n  tags: {team: physics}\n',
      );
      // Act
      const spec = resolveSpec({
        template: path,
        overrides: { resources: { 'fast-disk': null, licence: 2 }, env: { B: 'b' }, tags: { project: 'p1' } },
      });
      // Assess
      expect(spec.resources).toEqual({ GPU: 1, licence: 2 });
      expect(spec.env).toEqual({ A: '1', B: 'b' });
      expect(spec.tags).toEqual({ team: 'physics', project: 'p1' });
    });

    it('resets a field to its default when an override sets it to null, and ignores undefined', () => {
      const path = yamlFile('null.yaml', 'spec:\n  nWorkers: 3\n  job: my-job\n  idleTimeoutMinutes: 5\n');
      const spec = resolveSpec({ template: path, overrides: { nWorkers: null, job: null, idleTimeoutMinutes: undefined } });
      expect(spec.nWorkers).toBe(20);
      expect('job' in spec).toBe(false);
      expect(spec.idleTimeoutMinutes).toBe(5);
    });

    it('reads a bare spec mapping (no spec: key) when given a file path', () => {
      const path = yamlFile('bare.yml', 'instanceType: t3.large\nnWorkers: 2\nworkerMemoryGiB: 2\n');
      expect(resolveSpec({ template: path })).toMatchObject({ instanceType: 't3.large', nWorkers: 2, workerMemoryGiB: 2 });
    });

    it('keeps optional fields when given them', () => {
      const spec = resolveSpec({
        overrides: { name: 'alice-sweep', job: 'sweep 42', sourceGitBranch: 'feature/faster-fft', image: 'ghcr.io/lab/recc:1.2.3' },
      });
      expect(spec).toMatchObject({ name: 'alice-sweep', job: 'sweep 42', sourceGitBranch: 'feature/faster-fft', image: 'ghcr.io/lab/recc:1.2.3' });
    });
  });

  describe('Validation messages', () => {
    it('reports both problems, in the order given, when given --workers -3 and an unknown instance type', () => {
      expect(problems({ overrides: { nWorkers: -3, instanceType: 'c5.xlarge2' } })).toEqual([
        'nWorkers: must be a positive whole number (got -3)',
        'instanceType: unknown instance type "c5.xlarge2"; nearest: c5.xlarge, c5.large, c5.2xlarge',
      ]);
    });

    it('throws a SpecValidationError (a 400 ValidationError) listing every problem at once', () => {
      try {
        resolveSpec({ overrides: { nWorkers: 0, workerCpu: -1, workerMemoryGiB: 'lots', wrokers: 3 } });
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(SpecValidationError);
        expect(err).toBeInstanceOf(ValidationError);
        const e = err as SpecValidationError;
        expect(e.statusCode).toBe(400);
        expect(e.message).toBe('invalid cluster spec: 4 problems');
        expect(e.details.map((d) => d.path)).toEqual(['nWorkers', 'workerCpu', 'workerMemoryGiB', 'wrokers']);
      }
    });

    it.each([
      ['workers', 'nWorkers'],
      ['instance_type', 'instanceType'],
      ['cpu', 'workerCpu'],
      ['schedulerMemory', 'schedulerMemoryGiB'],
      ['gitBranch', 'sourceGitBranch'],
      ['idleTimeout', 'idleTimeoutMinutes'],
      ['tag', 'tags'],
    ])('suggests the nearest valid name when given the unknown field %s', (field, nearest) => {
      expect(problems({ overrides: { [field]: 1 } })).toEqual([`${field}: unknown field; did you mean "${nearest}"?`]);
    });

    it.each([
      [{ nWorkers: 2.5 }, 'nWorkers: must be a positive whole number (got 2.5)'],
      [{ nWorkers: 0 }, 'nWorkers: must be a positive whole number (got 0)'],
      [{ nWorkers: '7' }, 'nWorkers: must be a positive whole number (got "7")'],
      [{ nWorkers: 6000 }, 'nWorkers: must be at most 5000 (got 6000)'],
      [{ nWorkers: Number.NaN }, 'nWorkers: must be a positive whole number (got NaN)'],
      [{ idleTimeoutMinutes: 1.5 }, 'idleTimeoutMinutes: must be a positive whole number (got 1.5)'],
      [{ workerCpu: 0 }, 'workerCpu: must be a positive number (got 0)'],
      [{ workerMemoryGiB: -2 }, 'workerMemoryGiB: must be a positive number (got -2)'],
      [{ schedulerCpu: 'one' }, 'schedulerCpu: must be a positive number (got "one")'],
      [{ schedulerMemoryGiB: Number.POSITIVE_INFINITY }, 'schedulerMemoryGiB: must be a positive number (got Infinity)'],
      [{ maxLifetimeHours: 0 }, 'maxLifetimeHours: must be a positive number (got 0)'],
      [{ maxLifetimeHours: 200 }, 'maxLifetimeHours: must be at most 168 (got 200)'],
      [{ instanceType: 5 }, 'instanceType: must be an instance type name such as "c5.xlarge" (got 5)'],
      [{ image: 'my image' }, 'image: must be a container image reference such as "registry.example.org/recc:1.4.0" or "recc@sha256:<64 hex digits>" (got "my image")'],
      [{ image: 'recc:latest' }, 'image: must not use the "latest" tag, which moves with every push: name a version tag or a digest (such as "recc@sha256:<64 hex digits>") (got "recc:latest")'],
      [{ image: 'ghcr.io/lab/recc' }, 'image: must name a tag or a digest (such as "recc:1.4.0" or "recc@sha256:<64 hex digits>"): an untagged image means "latest", which moves with every push (got "ghcr.io/lab/recc")'],
      [{ image: 'recc@sha256:abc' }, 'image: must be a container image reference such as "registry.example.org/recc:1.4.0" or "recc@sha256:<64 hex digits>" (got "recc@sha256:abc")'],
      [{ image: 42 }, 'image: must be a string (got 42)'],
      [{ name: 'Alice_Cluster' }, 'name: must be lowercase letters, digits and "-", starting with a letter and not ending with "-" (got "Alice_Cluster")'],
      [{ name: `a${'b'.repeat(40)}` }, 'name: must be at most 40 characters (got 41)'],
      [{ job: 'two\nlines' }, 'job: must be a non-empty label without line breaks (got "two\\nlines")'],
      [{ job: '' }, 'job: must be a non-empty label without line breaks (got "")'],
      [{ sourceGitBranch: 'feature..x' }, 'sourceGitBranch: must be a valid git branch name (got "feature..x")'],
      [{ sourceGitBranch: 'has space' }, 'sourceGitBranch: must be a valid git branch name (got "has space")'],
      [{ sourceGitBranch: ['main'] }, 'sourceGitBranch: must be a string (got a list)'],
      [{ resources: { GPU: 0.5 } }, 'resources.GPU: GPUs per worker must be a whole number (got 0.5)'],
      [{ resources: { licence: -1 } }, 'resources.licence: must be a positive number (got -1)'],
      [{ resources: { '1x': 1 } }, 'resources.1x: resource names start with a letter and use letters, digits, "_", ".", "-" or "/"'],
      [{ resources: ['GPU'] }, 'resources: must be a mapping of resource name to amount, such as {GPU: 1} (got a list)'],
      [{ env: { 'MY-VAR': 'x' } }, 'env.MY-VAR: environment variable names use letters, digits and "_" and do not start with a digit'],
      [{ env: { DEBUG: true } }, 'env.DEBUG: must be a string; quote numbers and booleans (got true)'],
      [{ env: 'A=1' }, 'env: must be a mapping of variable name to string value (got "A=1")'],
      [{ tags: { 'aws:owner': 'me' } }, 'tags.aws:owner: tag keys starting with "aws:" are reserved by AWS'],
      [{ tags: { '': 'x' } }, 'tags: tag keys must not be empty'],
      [{ tags: { k: 'v'.repeat(257) } }, 'tags.k: tag values are at most 256 characters'],
      [{ tags: { ['k'.repeat(129)]: 'v' } }, `tags.${'k'.repeat(129)}: tag keys are at most 128 characters (got 129)`],
      [{ tags: { team: 7 } }, 'tags.team: must be a string (got 7)'],
      [{ tags: 'team=x' }, 'tags: must be a mapping of tag key to string value (got "team=x")'],
    ])('reports a plain message when given %j', (overrides, message) => {
      expect(problems({ overrides })).toEqual([message]);
    });

    it('says the largest worker that fits when given a worker bigger than the allocatable CPU and memory', () => {
      expect(problems({ overrides: { workerCpu: 4, workerMemoryGiB: 7 } })).toEqual([
        'workerCpu: a worker of 4 vCPU does not fit on a c5.xlarge node (3.795 vCPU allocatable to pods); the largest that fits is 3.795 vCPU; at 3.795 vCPU and 6.78 GiB, 20 workers take 21 nodes (1 per node, the scheduler on a node of its own), EC2 $3.57/h',
        'workerMemoryGiB: a worker of 7 GiB does not fit on a c5.xlarge node (6.78 GiB allocatable to pods); the largest that fits is 6.78 GiB; at 3.795 vCPU and 6.78 GiB, 20 workers take 21 nodes (1 per node, the scheduler on a node of its own), EC2 $3.57/h',
      ]);
    });

    it('accepts a worker of exactly the largest size that fits', () => {
      expect(problems({ overrides: { workerCpu: 3.795, workerMemoryGiB: 6.78, nWorkers: 2 } })).toEqual([]);
    });

    it('says the largest scheduler that fits when given a scheduler bigger than a node', () => {
      expect(problems({ overrides: { instanceType: 'm5.large', schedulerCpu: 2, schedulerMemoryGiB: 8 } })).toEqual([
        'schedulerCpu: a scheduler of 2 vCPU does not fit on a m5.large node (1.805 vCPU allocatable to pods); the largest that fits is 1.805 vCPU',
        // 8 GiB − (255 + 11 × 29 + 100) MiB − 0.25 GiB = 7.0918 GiB
        'schedulerMemoryGiB: a scheduler of 8 GiB does not fit on a m5.large node (7.09 GiB allocatable to pods); the largest that fits is 7.09 GiB',
      ]);
    });

    it('names GPU instance types when given GPUs on a type without GPUs', () => {
      expect(problems({ overrides: { resources: { GPU: 1 } } })).toEqual([
        'resources.GPU: c5.xlarge has no GPUs; choose a GPU instance type such as g4dn.xlarge, g5.xlarge, p3.2xlarge',
      ]);
    });

    it('says how many GPUs fit when given more GPUs per worker than the type has', () => {
      expect(problems({ overrides: { instanceType: 'g4dn.xlarge', resources: { 'nvidia.com/gpu': 2 } } })).toEqual([
        'resources.nvidia.com/gpu: 2 GPUs per worker do not fit on a g4dn.xlarge node (1 GPU); the largest that fits is 1',
      ]);
      expect(problems({ overrides: { instanceType: 'p3.8xlarge', resources: { GPU: 8 } } })).toEqual([
        'resources.GPU: 8 GPUs per worker do not fit on a p3.8xlarge node (4 GPUs); the largest that fits is 4',
      ]);
    });

    it('rejects an instance type whose reservations leave nothing for pods', () => {
      expect(problems({ overrides: { instanceType: 't3.nano' } })).toEqual([
        'instanceType: a t3.nano node has no memory left for recc pods after kubelet reservations and daemonsets; choose a larger instance type',
      ]);
    });

    it('rejects an instance type left without CPU or pod slots by a large daemonset overhead', () => {
      expect(problems({}, { daemonsetOverhead: { cpu: 4 } })).toEqual([
        'instanceType: a c5.xlarge node has no CPU left for recc pods after kubelet reservations and daemonsets; choose a larger instance type',
      ]);
      expect(problems({}, { daemonsetOverhead: { pods: 58 } })).toEqual([
        'instanceType: a c5.xlarge node has no pod slots left for recc pods after kubelet reservations and daemonsets; choose a larger instance type',
      ]);
    });

    it('lists the known templates when given an unknown template name', () => {
      expect(problems({ template: 'gpu-p4' })).toEqual([
        'template: unknown template "gpu-p4"; known templates: default, gpu-p3, large-cluster-large-workers, memory-heavy-r5, small',
      ]);
    });

    it('reports a missing file when given a path that does not exist', () => {
      expect(problems({ template: './no/such/spec.yaml' })).toEqual(['template: no such file: ./no/such/spec.yaml']);
    });

    it('reports a YAML syntax error with the file named', () => {
      const path = yamlFile('broken.yaml', 'spec:\n  nWorkers: [1\n');
      const [p] = problems({ template: path });
      expect(p).toMatch(new RegExp(`^template: ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not valid YAML: `));
    });

    it('reports a template that is not a mapping', () => {
      const path = yamlFile('list.yaml', '- nWorkers: 3\n');
      expect(problems({ template: path })).toEqual([`template: ${path} must be a YAML mapping (got a list)`]);
    });

    it('reports template problems with the file named, together with the override problems', () => {
      // Prepare
      const path = yamlFile('bad.yaml', 'description: 5\nnotes: hi\nspec:\n  nWorkers: 0\n  instanceType: m5.xlarge\n  wrokerCpu: 1\n');
      // Act
      const found = problems({ template: path, overrides: { workerMemoryGiB: -1 } });
      // Assess: the template's valid field (m5.xlarge) is still merged, so nothing else is reported.
      expect(found).toEqual([
        `notes: unknown template key; a template has "description", "spec" and "warm" (in ${path})`,
        `description: must be a string (got 5) (in ${path})`,
        `nWorkers: must be a positive whole number (got 0) (in ${path})`,
        `wrokerCpu: unknown field; did you mean "workerCpu"? (in ${path})`,
        'workerMemoryGiB: must be a positive number (got -1)',
      ]);
    });

    it('reports a problem once when both the overrides and the merged spec would report it', () => {
      expect(problems({ overrides: { workerCpu: 100, nWorkers: -1 } })).toEqual([
        'nWorkers: must be a positive whole number (got -1)',
        'workerCpu: a worker of 100 vCPU does not fit on a c5.xlarge node (3.795 vCPU allocatable to pods); the largest that fits is 3.795 vCPU; at 3.795 vCPU, 20 workers take 21 nodes (1 per node, the scheduler on a node of its own), EC2 $3.57/h',
      ]);
    });

    it('checks fit with the configured daemonset overhead', () => {
      expect(problems({ overrides: { workerCpu: 3.5 } }, { daemonsetOverhead: { cpu: 0.5 } })).toEqual([
        'workerCpu: a worker of 3.5 vCPU does not fit on a c5.xlarge node (3.42 vCPU allocatable to pods); the largest that fits is 3.42 vCPU; at 3.42 vCPU, 20 workers take 21 nodes (1 per node, the scheduler on a node of its own), EC2 $3.57/h',
      ]);
    });
  });
});

describe('Function: validateSpecInput', () => {
  it('returns no problems when given a valid partial spec or null fields', () => {
    expect(validateSpecInput({ nWorkers: 3, image: null, tags: { a: 'b', c: null } })).toEqual([]);
    expect(validateSpecInput({})).toEqual([]);
  });

  it('prefixes paths when given a prefix', () => {
    expect(validateSpecInput({ nWorkers: -1, imgae: 'x', env: { X: 1 } }, 'spec')).toEqual([
      { path: 'spec.nWorkers', message: 'must be a positive whole number (got -1)' },
      { path: 'spec.imgae', message: 'unknown field; did you mean "image"?' },
      { path: 'spec.env.X', message: 'must be a string; quote numbers and booleans (got 1)' },
    ]);
  });

  it('reports the whole input when given something that is not a mapping', () => {
    expect(validateSpecInput([1, 2])).toEqual([
      { path: '', message: 'a cluster spec must be a mapping of field names to values (got a list)' },
    ]);
    expect(validateSpecInput('x', 'body')).toEqual([
      { path: 'body', message: 'a cluster spec must be a mapping of field names to values (got "x")' },
    ]);
  });
});

describe('Function: validateSpec', () => {
  it('accepts the default spec', () => {
    expect(validateSpec(DEFAULT_SPEC)).toEqual([]);
  });

  it('reports missing required fields of a complete spec', () => {
    const { nWorkers: _n, ...rest } = DEFAULT_SPEC;
    expect(validateSpec(rest)).toEqual([{ path: 'nWorkers', message: 'must be a positive whole number (got nothing)' }]);
  });

  it('still checks fit when other fields are invalid', () => {
    expect(validateSpec({ ...DEFAULT_SPEC, image: '', workerCpu: 8 }).map((p) => p.path)).toEqual(['image', 'workerCpu']);
  });
});

describe('Function: mergeSpecInputs', () => {
  it('lets later layers win without validating', () => {
    const merged = mergeSpecInputs(DEFAULT_SPEC, { nWorkers: 5 }, { nWorkers: 6, tags: { a: 'b' } });
    expect(merged.nWorkers).toBe(6);
    expect(merged.tags).toEqual({ a: 'b' });
    expect(DEFAULT_SPEC.tags).toEqual({});
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getInstanceType } from '../../../shared/catalog/instances.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import { SpecValidationError } from '../../../shared/spec/errors.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import {
  defaultTemplatesDir,
  isTemplatePath,
  listTemplates,
  loadTemplate,
  readTemplate,
  templateNames,
} from '../../../shared/spec/templates.ts';

const dir = mkdtempSync(join(tmpdir(), 'recc-templates-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Module: templates', () => {
  describe('Function: listTemplates', () => {
    it('lists the shipped templates by name with a description and a partial spec', () => {
      // Act
      const templates = listTemplates();
      // Assess
      const names = templates.map((t) => t.name);
      expect(names).toEqual(['default', 'gpu-p3', 'large-cluster-large-workers', 'memory-heavy-r5', 'small']);
      for (const t of templates) {
        expect(t.description.length, t.name).toBeGreaterThan(10);
        expect(Object.keys(t.spec).length, t.name).toBeGreaterThan(0);
      }
    });

    it('ships a memory-heavy r5 template and a GPU template', () => {
      const byName = new Map(listTemplates().map((t) => [t.name, t]));
      expect(byName.get('memory-heavy-r5')?.spec.instanceType).toMatch(/^r5\./);
      const gpu = byName.get('gpu-p3')?.spec;
      expect(getInstanceType(gpu?.instanceType ?? '').gpus).toBeGreaterThan(0);
      expect(gpu?.resources).toEqual({ GPU: 1 });
    });

    it('resolves and plans every shipped template, and each description states its node count', () => {
      for (const t of listTemplates()) {
        const spec = resolveSpec({ template: t.name });
        const plan = planCluster(spec);
        expect(plan.instances, t.name).toBeGreaterThan(0);
        const stated = /\((\d+) nodes?\)|on one /.exec(t.description);
        if (stated?.[1]) expect(plan.instances, t.name).toBe(Number(stated[1]));
      }
    });

    it('returns the default template identical to the built-in default', () => {
      expect(resolveSpec({ template: 'default' })).toEqual(resolveSpec({}));
    });

    it('returns nothing when given a directory without templates', () => {
      expect(listTemplates(join(dir, 'missing'))).toEqual([]);
      expect(templateNames(join(dir, 'missing'))).toEqual([]);
    });

    it('throws SpecValidationError naming the file when a template in the directory is malformed', () => {
      // Prepare
      const d = mkdtempSync(join(dir, 'bad-'));
      writeFileSync(join(d, 'ok.yaml'), 'description: fine\nspec: {nWorkers: 2}\n');
      writeFileSync(join(d, 'oops.yml'), 'spec: {nWorkers: two}\n');
      // Act / Assess
      expect(() => listTemplates(d)).toThrow(SpecValidationError);
      try {
        listTemplates(d);
      } catch (err) {
        expect((err as SpecValidationError).details).toEqual([
          { path: 'nWorkers', message: 'must be a positive whole number (got "two") (in templates/oops.yml)' },
        ]);
      }
    });

    it('refuses a template whose image floats (latest or no tag), naming the file and the field; ships none (issue 17 #8)', () => {
      const problems = (file: string, image: string) => {
        // Prepare
        const d = mkdtempSync(join(dir, 'image-'));
        writeFileSync(join(d, file), `spec: {image: "${image}"}\n`);
        // Act
        try {
          listTemplates(d);
        } catch (err) {
          expect(err).toBeInstanceOf(SpecValidationError);
          return (err as SpecValidationError).details;
        }
        return [];
      };

      // Assess
      expect(problems('gpu.yaml', 'recc-gpu:latest')).toEqual([
        { path: 'image', message: 'must not use the "latest" tag, which moves with every push: name a version tag or a digest (such as "recc@sha256:<64 hex digits>") (got "recc-gpu:latest") (in templates/gpu.yaml)' },
      ]);
      expect(problems('bare.yaml', 'ghcr.io/lab/recc')).toEqual([{ path: 'image', message: expect.stringMatching(/^must name a tag or a digest .*untagged.*\(in templates\/bare\.yaml\)$/) }]);
      expect(problems('pinned.yaml', `ghcr.io/lab/recc@sha256:${'c'.repeat(64)}`)).toEqual([]);
      for (const t of listTemplates()) {
        if (t.spec.image !== undefined) expect(t.spec.image, t.name).toMatch(/@sha256:[0-9a-f]{64}$/);
      }
      expect(listTemplates().find((t) => t.name === 'gpu-p3')?.spec.image).toMatch(/recc-gpu@sha256:/);
    });
  });

  describe('Function: loadTemplate', () => {
    it('loads a template by name from a given directory', () => {
      // Prepare
      const d = mkdtempSync(join(dir, 'named-'));
      writeFileSync(join(d, 'tiny.yml'), 'description: Tiny\nspec:\n  nWorkers: 1\n');
      // Act
      const t = loadTemplate('tiny', d);
      // Assess
      expect(t).toEqual({ name: 'tiny', description: 'Tiny', spec: { nWorkers: 1 } });
    });

    it('reads a relative path from the current directory', () => {
      const t = loadTemplate('templates/small.yaml');
      expect(t.name).toBe('small');
      expect(t.spec.nWorkers).toBe(2);
    });

    it('accepts an empty file as an empty template', () => {
      const path = join(dir, 'empty.yaml');
      writeFileSync(path, '');
      expect(loadTemplate(path)).toEqual({ name: 'empty', description: '', spec: {} });
    });

    it('throws listing the known templates when given an unknown name', () => {
      try {
        loadTemplate('nope');
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(SpecValidationError);
        expect((err as SpecValidationError).details).toEqual([
          {
            path: 'template',
            message: 'unknown template "nope"; known templates: default, gpu-p3, large-cluster-large-workers, memory-heavy-r5, small',
          },
        ]);
      }
    });
  });

  describe('Function: readTemplate', () => {
    it('returns the valid fields and the problems without throwing', () => {
      const path = join(dir, 'partial.yaml');
      writeFileSync(path, 'spec:\n  nWorkers: 3\n  workerCpu: -1\n');
      const r = readTemplate(path);
      expect(r.spec).toEqual({ nWorkers: 3 });
      expect(r.problems).toEqual([{ path: 'workerCpu', message: `must be a positive number (got -1) (in ${path})` }]);
    });
  });

  describe('Function: isTemplatePath', () => {
    it('treats names with a slash or a YAML extension as paths', () => {
      expect(isTemplatePath('default')).toBe(false);
      expect(isTemplatePath('large-cluster-large-workers')).toBe(false);
      expect(isTemplatePath('./mine')).toBe(true);
      expect(isTemplatePath('mine.yaml')).toBe(true);
      expect(isTemplatePath('mine.YML')).toBe(true);
    });
  });

  it('finds templates/ at the repository root', () => {
    expect(defaultTemplatesDir()).toMatch(/[/\\]templates[/\\]?$/);
  });
});

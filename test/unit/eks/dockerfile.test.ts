import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildClusterManifests } from '../../../adapters/eks/manifests/build.ts';
import { buildProgram } from '../../../cli/index.ts';
import { testDefinition, TEST_EKS_CONFIG } from '../../support/eks-stack.ts';
import { manifestOptions } from '../../../adapters/eks/config.ts';

/**
 * The runtime image cannot be built here (no registry access), so this test
 * reads the Dockerfile and checks what would break at run time: the base
 * image, a production-only install, the `recc` entrypoint on PATH, a
 * non-root user matching the pod security context, a build context that
 * keeps what the CLI needs, and that every command and flag the EKS pods run
 * exists in the CLI.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Instruction {
  op: string;
  args: string;
}

function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l);
      return { op: (m?.[1] ?? l).toUpperCase(), args: (m?.[2] ?? '').replace(/\s+/g, ' ').trim() };
    });
}

function stages(instructions: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') out.push([]);
    out.at(-1)?.push(i);
  }
  return out;
}

/** Whether a .dockerignore pattern list excludes a path (the subset of syntax used here: names, dirs, `*` globs). */
function ignored(patterns: string[], path: string): boolean {
  return patterns.some((p) => {
    const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
    return re.test(path);
  });
}

function subcommand(program: Command, name: string): Command | undefined {
  return program.commands.find((c) => c.name() === name);
}

describe('Dockerfile', () => {
  const instructions = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const all = stages(instructions);
  const final = all.at(-1) ?? [];

  it('builds on node:20-slim and installs production dependencies only with npm ci', () => {
    // Assess
    expect(all.every((s) => /^node:20-slim(\s|$)/.test(s[0]?.args ?? ''))).toBe(true);
    const installs = instructions.filter((i) => i.op === 'RUN' && /npm ci/.test(i.args));
    expect(installs).toHaveLength(1);
    expect(installs[0]?.args).toMatch(/npm ci --omit=dev/);
  });

  it('puts the recc command on PATH and uses it as the entrypoint', () => {
    // Assess
    const entrypoint = final.find((i) => i.op === 'ENTRYPOINT');
    const argv = JSON.parse(entrypoint?.args ?? 'null') as string[];
    expect(argv.at(-1)).toBe('recc');
    const link = final.find((i) => i.op === 'RUN' && /ln -s \S+ \/usr\/local\/bin\/recc/.test(i.args));
    const target = /ln -s (\S+) \/usr\/local\/bin\/recc/.exec(link?.args ?? '')?.[1];
    const workdir = final.filter((i) => i.op === 'WORKDIR').at(-1)?.args;
    expect(target).toBe(`${workdir}/bin/recc.mjs`);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; dependencies: Record<string, string> };
    expect(pkg.bin.recc).toBe('bin/recc.mjs');
    expect(readFileSync(join(ROOT, 'bin', 'recc.mjs'), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    // bin/recc.mjs runs the TypeScript through tsx, so tsx must survive --omit=dev.
    expect(pkg.dependencies.tsx).toBeDefined();
  });

  it('runs as the non-root node user (uid 1000), matching the pod security context', () => {
    // Assess
    expect(final.filter((i) => i.op === 'USER').at(-1)?.args).toBe('node');
    const def = testDefinition({ clusterId: 'img-1' });
    const deployments = buildClusterManifests(def, manifestOptions(TEST_EKS_CONFIG), { kind: 'references' }).filter((o) => o.kind === 'Deployment');
    for (const d of deployments) {
      expect((d.spec as any).template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    }
  });

  it('keeps in the build context every file the scheduler and worker need', () => {
    // Prepare
    const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));

    // Assess
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'bin/recc.mjs', 'cli/index.ts', 'cli/commands/scheduler.ts', 'cli/commands/worker.ts', 'shared/core/errors.ts', 'templates']) {
      expect({ path, ignored: ignored(patterns, path) }).toEqual({ path, ignored: false });
      expect(existsSync(join(ROOT, path))).toBe(true);
    }
    for (const path of ['node_modules', 'test/unit', '.git', '.recc']) expect({ path, ignored: ignored(patterns, path) }).toEqual({ path, ignored: true });
    for (const copy of instructions.filter((i) => i.op === 'COPY' && !i.args.includes('--from='))) {
      const sources = copy.args.replace(/--\S+/g, '').trim().split(' ').slice(0, -1);
      for (const s of sources) expect(existsSync(join(ROOT, s))).toBe(true);
    }
  });

  it('runs pod commands that exist in the CLI, with flags those commands accept', () => {
    // Prepare
    const program = buildProgram();
    const def = testDefinition({ clusterId: 'img-2', workers: 2, overrides: { resources: { GPU: 1 }, instanceType: 'g4dn.xlarge' } });
    const deployments = buildClusterManifests(def, manifestOptions(TEST_EKS_CONFIG), { kind: 'references' }).filter((o) => o.kind === 'Deployment');

    // Assess
    expect(program.commands.map((c) => c.name())).toEqual(expect.arrayContaining(['scheduler', 'worker']));
    expect(deployments).toHaveLength(2);
    for (const d of deployments) {
      const container = (d.spec as any).template.spec.containers[0] as { command: string[]; args: string[] };
      expect(container.command).toEqual(['recc']);
      const [name, ...rest] = container.args;
      const cmd = subcommand(program, name ?? '');
      expect(cmd, `recc ${name}`).toBeDefined();
      const known = new Set(cmd?.options.map((o) => o.long));
      const flags = rest.filter((a) => a.startsWith('--'));
      for (const flag of flags) expect({ command: name, flag, known: known.has(flag) }).toEqual({ command: name, flag, known: true });
      const positional = rest.filter((a, i) => !a.startsWith('--') && !(rest[i - 1] ?? '').startsWith('--'));
      expect(positional.length).toBe(cmd?.registeredArguments.length ?? 0);
    }
  });
});

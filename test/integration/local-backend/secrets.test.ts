import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { generateClusterSecrets, readSecretFiles, writeSecretFiles } from '../../../adapters/secrets/index.ts';
import { schedulerDnsNames } from '../../../shared/definition/render.ts';

/** Connect with the CA to `host` (servername) on a TLS server holding the secrets; resolves to the authorization error, if any. */
async function handshake(secrets: Awaited<ReturnType<typeof generateClusterSecrets>>, ca: string, servername: string): Promise<string | undefined> {
  const server = tls.createServer({ cert: secrets.serverCertPem, key: secrets.serverKeyPem }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise<string | undefined>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca, servername, rejectUnauthorized: false }, () => {
        const verdict = socket.authorized ? undefined : String(socket.authorizationError);
        const identity = tls.checkServerIdentity(servername, socket.getPeerCertificate());
        socket.destroy();
        resolve(verdict ?? identity?.message);
      });
      socket.on('error', (err) => resolve(err.message));
    });
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('Function: generateClusterSecrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recc-secrets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('issues a scheduler certificate from a per-cluster CA that covers the service names and loopback', async () => {
    // Act
    const secrets = await generateClusterSecrets({ clusterId: 'c-1', dnsNames: schedulerDnsNames('recc-a-1') });
    const cert = new X509Certificate(secrets.serverCertPem);
    const ca = new X509Certificate(secrets.caCertPem);

    // Assess
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost('recc-scheduler.recc-a-1.svc')).toBe('recc-scheduler.recc-a-1.svc');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(ca.ca).toBe(true);
    expect(secrets.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await handshake(secrets, secrets.caCertPem, 'recc-scheduler.recc-a-1.svc')).toBeUndefined();
  });

  it('makes every cluster distinct: another cluster\'s CA does not trust the certificate', async () => {
    // Act
    const one = await generateClusterSecrets({ clusterId: 'c-1' });
    const two = await generateClusterSecrets({ clusterId: 'c-2' });

    // Assess
    expect(one.token).not.toBe(two.token);
    expect(await handshake(one, two.caCertPem, 'localhost')).toMatch(/certificate|signature|verify/i);
  });

  it('writes the files pods read with mode 0600 and reads them back', async () => {
    // Prepare
    const secrets = await generateClusterSecrets({ clusterId: 'c-3' });

    // Act
    await writeSecretFiles(join(dir, 'secrets'), secrets);
    const back = await readSecretFiles(join(dir, 'secrets'));

    // Assess
    expect(back).toEqual(secrets);
    for (const name of ['token', 'ca.pem', 'tls.crt', 'tls.key', 'ca.key']) {
      expect(statSync(join(dir, 'secrets', name)).mode & 0o777, name).toBe(0o600);
    }
    expect(statSync(join(dir, 'secrets')).mode & 0o777).toBe(0o700);
  });
});

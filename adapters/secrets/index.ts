import 'reflect-metadata';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import type { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { SECRET_FILES, type ClusterSecrets } from '../../shared/definition/types.ts';
import { SecretsGenerationError, SecretsNotFoundError } from './errors.ts';

export * from './errors.ts';

/**
 * Per-cluster secret material: a random token, a per-cluster CA and a server
 * certificate for the scheduler signed by it (ECDSA P-256 through WebCrypto,
 * about 10 ms). Workers and clients verify the scheduler against the CA; the
 * token authenticates every peer.
 *
 * Where it is kept: locally in `<stateDir>/clusters/<id>/secrets` (0600
 * files, `writeSecretFiles`), so a restarted `recc up` finds it again; on AWS
 * the token and CA are on the cluster record's `connection` and the full set
 * is in the cluster's Kubernetes Secret.
 */
export interface SecretsRequest {
  clusterId: string;
  /** DNS names the scheduler certificate covers (e.g. `schedulerDnsNames(namespace)`). `localhost` is always added. */
  dnsNames?: string[];
  /** IP addresses the scheduler certificate covers. `127.0.0.1` is always added. */
  ipAddresses?: string[];
  /** @default 400 */
  validityDays?: number;
  /** Injected clock, ms since the epoch. */
  now?: number;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
x509.cryptoProvider.set(globalThis.crypto);

function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  // Serial numbers must be positive: clear the top bit.
  b[0] = (b[0] ?? 0) & 0x7f;
  return Buffer.from(b).toString('hex');
}

/** A 256-bit token, base64url. */
export function generateToken(): string {
  const b = new Uint8Array(32);
  globalThis.crypto.getRandomValues(b);
  return Buffer.from(b).toString('base64url');
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await globalThis.crypto.subtle.exportKey('pkcs8', key));
  const body = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${body}-----END PRIVATE KEY-----\n`;
}

export async function generateClusterSecrets(request: SecretsRequest): Promise<ClusterSecrets> {
  try {
    const subtle = globalThis.crypto.subtle;
    const now = request.now ?? Date.now();
    const notBefore = new Date(now - 60 * 60 * 1000);
    const notAfter = new Date(now + (request.validityDays ?? 400) * 24 * 60 * 60 * 1000);
    const caKeys = await subtle.generateKey(ALG, true, ['sign', 'verify']);
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomHex(16),
      name: `CN=recc cluster ${request.clusterId} CA, O=recc`,
      notBefore,
      notAfter,
      keys: caKeys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });

    const dnsNames = [...new Set([...(request.dnsNames ?? []), 'localhost'])];
    const ips = [...new Set([...(request.ipAddresses ?? []), '127.0.0.1'])];
    const serverKeys = await subtle.generateKey(ALG, true, ['sign', 'verify']);
    const server = await x509.X509CertificateGenerator.create({
      serialNumber: randomHex(16),
      subject: `CN=${dnsNames[0] ?? 'localhost'}, O=recc`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: serverKeys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
          ...ips.map((value) => ({ type: 'ip' as const, value })),
        ]),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });

    return {
      token: generateToken(),
      caCertPem: ca.toString('pem') + '\n',
      caKeyPem: await privateKeyPem(caKeys.privateKey),
      serverCertPem: server.toString('pem') + '\n',
      serverKeyPem: await privateKeyPem(serverKeys.privateKey),
    };
  } catch (err) {
    throw new SecretsGenerationError(`could not generate secrets for cluster ${request.clusterId}`, { cause: err });
  }
}

/**
 * Write the files pods read (SECRET_FILES) plus the CA key (kept for
 * re-issuing) into `dir`, mode 0600, directory 0700.
 */
export async function writeSecretFiles(dir: string, secrets: ClusterSecrets): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const files: Array<[string, string]> = [
    [SECRET_FILES.token, secrets.token],
    [SECRET_FILES.caCert, secrets.caCertPem],
    [SECRET_FILES.serverCert, secrets.serverCertPem],
    [SECRET_FILES.serverKey, secrets.serverKeyPem],
    [CA_KEY_FILE, secrets.caKeyPem],
  ];
  for (const [name, content] of files) {
    const path = join(dir, name);
    await writeFile(path, content, { mode: 0o600 });
    await chmod(path, 0o600);
  }
}

/** File name of the CA private key in a local secrets directory (never mounted into pods on EKS). */
export const CA_KEY_FILE = 'ca.key';

export async function readSecretFiles(dir: string): Promise<ClusterSecrets> {
  try {
    const read = (name: string) => readFile(join(dir, name), 'utf8');
    return {
      token: (await read(SECRET_FILES.token)).trim(),
      caCertPem: await read(SECRET_FILES.caCert),
      serverCertPem: await read(SECRET_FILES.serverCert),
      serverKeyPem: await read(SECRET_FILES.serverKey),
      caKeyPem: await read(CA_KEY_FILE),
    };
  } catch (err) {
    throw new SecretsNotFoundError(`secrets in ${dir} are missing or unreadable`, { cause: err });
  }
}

import { InvalidAddressError } from './errors.ts';

export interface Address {
  protocol: 'tcp' | 'tls';
  host: string;
  port: number;
}

/** Parse `tcp://host:port` or `tls://host:port` (IPv6 hosts in brackets). */
export function parseAddress(address: string): Address {
  const m = /^(tcp|tls):\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(address.trim());
  if (!m) throw new InvalidAddressError(address);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new InvalidAddressError(address);
  const host = (m[2] as string).replace(/^\[|\]$/g, '');
  return { protocol: m[1] as 'tcp' | 'tls', host, port };
}

export function formatAddress(a: Address): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${a.protocol}://${host}:${a.port}`;
}

import { distance } from 'fastest-levenshtein';
import { UnknownInstanceTypeError, UnknownRegionError } from './errors.ts';

/**
 * EC2 instance catalog (pure data).
 *
 * Sizes (vCPU, memory, GPUs) are AWS's published instance specifications.
 * `enis` and `ipv4PerEni` are the per-type ENI limits from the EC2 user guide
 * ("IP addresses per network interface per instance type"); max pods follow the
 * formula the EKS-optimised AMI uses (`eni-max-pods.txt`):
 *
 *     maxPods = ENIs × (IPv4 addresses per ENI − 1) + 2
 *
 * (the `−1` is the ENI's own primary address; `+2` are the host-network pods
 * aws-node and kube-proxy, which need no VPC IP).
 *
 * PRICES: on-demand, Linux, shared tenancy, USD per hour in us-east-1, taken
 * from the AWS public price list (aws.amazon.com/ec2/pricing/on-demand and the
 * AWS Price List API `AmazonEC2` offer file), as recorded on 2026-11-01. They
 * have been stable for these families since their launch, but AWS may change
 * them: refresh this table (and `PRICE_DATE`) from the Price List API before
 * relying on an estimate for billing. This machine has no network access, so
 * prices are not fetched at run time; the estimate is an estimate.
 */
export const PRICE_SOURCE = 'aws-price-list on-demand linux us-east-1';
export const PRICE_DATE = '2026-11-01';
export const BASE_REGION = 'us-east-1';

export type Family = 'c5' | 'm5' | 'r5' | 't3' | 'c6i' | 'm6i' | 'r6i' | 'p3' | 'g4dn' | 'g5';
export const FAMILIES: readonly Family[] = ['c5', 'm5', 'r5', 't3', 'c6i', 'm6i', 'r6i', 'p3', 'g4dn', 'g5'];

export interface InstanceType {
  name: string;
  family: Family;
  vcpu: number;
  memoryGiB: number;
  gpus: number;
  /** GPU model, when `gpus > 0`. */
  gpuModel?: string;
  enis: number;
  ipv4PerEni: number;
  /** ENIs × (IPv4 per ENI − 1) + 2. */
  maxPods: number;
  /** On-demand USD/hour in `region`. */
  pricePerHour: number;
  region: string;
}

// name, vCPU, GiB, GPUs, ENIs, IPv4 per ENI, us-east-1 $/h
type Row = readonly [string, number, number, number, number, number, number];

const ROWS: Record<Family, readonly Row[]> = {
  c5: [
    ['large', 2, 4, 0, 3, 10, 0.085],
    ['xlarge', 4, 8, 0, 4, 15, 0.17],
    ['2xlarge', 8, 16, 0, 4, 15, 0.34],
    ['4xlarge', 16, 32, 0, 8, 30, 0.68],
    ['9xlarge', 36, 72, 0, 8, 30, 1.53],
    ['12xlarge', 48, 96, 0, 8, 30, 2.04],
    ['18xlarge', 72, 144, 0, 15, 50, 3.06],
    ['24xlarge', 96, 192, 0, 15, 50, 4.08],
  ],
  m5: [
    ['large', 2, 8, 0, 3, 10, 0.096],
    ['xlarge', 4, 16, 0, 4, 15, 0.192],
    ['2xlarge', 8, 32, 0, 4, 15, 0.384],
    ['4xlarge', 16, 64, 0, 8, 30, 0.768],
    ['8xlarge', 32, 128, 0, 8, 30, 1.536],
    ['12xlarge', 48, 192, 0, 8, 30, 2.304],
    ['16xlarge', 64, 256, 0, 15, 50, 3.072],
    ['24xlarge', 96, 384, 0, 15, 50, 4.608],
  ],
  r5: [
    ['large', 2, 16, 0, 3, 10, 0.126],
    ['xlarge', 4, 32, 0, 4, 15, 0.252],
    ['2xlarge', 8, 64, 0, 4, 15, 0.504],
    ['4xlarge', 16, 128, 0, 8, 30, 1.008],
    ['8xlarge', 32, 256, 0, 8, 30, 2.016],
    ['12xlarge', 48, 384, 0, 8, 30, 3.024],
    ['16xlarge', 64, 512, 0, 15, 50, 4.032],
    ['24xlarge', 96, 768, 0, 15, 50, 6.048],
  ],
  t3: [
    ['nano', 2, 0.5, 0, 2, 2, 0.0052],
    ['micro', 2, 1, 0, 2, 2, 0.0104],
    ['small', 2, 2, 0, 3, 4, 0.0208],
    ['medium', 2, 4, 0, 3, 6, 0.0416],
    ['large', 2, 8, 0, 3, 12, 0.0832],
    ['xlarge', 4, 16, 0, 4, 15, 0.1664],
    ['2xlarge', 8, 32, 0, 4, 15, 0.3328],
  ],
  c6i: [
    ['large', 2, 4, 0, 3, 10, 0.085],
    ['xlarge', 4, 8, 0, 4, 15, 0.17],
    ['2xlarge', 8, 16, 0, 4, 15, 0.34],
    ['4xlarge', 16, 32, 0, 8, 30, 0.68],
    ['8xlarge', 32, 64, 0, 8, 30, 1.36],
    ['12xlarge', 48, 96, 0, 8, 30, 2.04],
    ['16xlarge', 64, 128, 0, 15, 50, 2.72],
    ['24xlarge', 96, 192, 0, 15, 50, 4.08],
    ['32xlarge', 128, 256, 0, 15, 50, 5.44],
  ],
  m6i: [
    ['large', 2, 8, 0, 3, 10, 0.096],
    ['xlarge', 4, 16, 0, 4, 15, 0.192],
    ['2xlarge', 8, 32, 0, 4, 15, 0.384],
    ['4xlarge', 16, 64, 0, 8, 30, 0.768],
    ['8xlarge', 32, 128, 0, 8, 30, 1.536],
    ['12xlarge', 48, 192, 0, 8, 30, 2.304],
    ['16xlarge', 64, 256, 0, 15, 50, 3.072],
    ['24xlarge', 96, 384, 0, 15, 50, 4.608],
    ['32xlarge', 128, 512, 0, 15, 50, 6.144],
  ],
  r6i: [
    ['large', 2, 16, 0, 3, 10, 0.126],
    ['xlarge', 4, 32, 0, 4, 15, 0.252],
    ['2xlarge', 8, 64, 0, 4, 15, 0.504],
    ['4xlarge', 16, 128, 0, 8, 30, 1.008],
    ['8xlarge', 32, 256, 0, 8, 30, 2.016],
    ['12xlarge', 48, 384, 0, 8, 30, 3.024],
    ['16xlarge', 64, 512, 0, 15, 50, 4.032],
    ['24xlarge', 96, 768, 0, 15, 50, 6.048],
    ['32xlarge', 128, 1024, 0, 15, 50, 8.064],
  ],
  // NVIDIA V100 16 GB
  p3: [
    ['2xlarge', 8, 61, 1, 4, 15, 3.06],
    ['8xlarge', 32, 244, 4, 8, 30, 12.24],
    ['16xlarge', 64, 488, 8, 8, 30, 24.48],
  ],
  // NVIDIA T4 16 GB
  g4dn: [
    ['xlarge', 4, 16, 1, 3, 10, 0.526],
    ['2xlarge', 8, 32, 1, 3, 10, 0.752],
    ['4xlarge', 16, 64, 1, 3, 10, 1.204],
    ['8xlarge', 32, 128, 1, 4, 15, 2.176],
    ['12xlarge', 48, 192, 4, 8, 30, 3.912],
    ['16xlarge', 64, 256, 1, 4, 15, 4.352],
    ['metal', 96, 384, 8, 15, 50, 7.824],
  ],
  // NVIDIA A10G 24 GB
  g5: [
    ['xlarge', 4, 16, 1, 4, 15, 1.006],
    ['2xlarge', 8, 32, 1, 4, 15, 1.212],
    ['4xlarge', 16, 64, 1, 8, 30, 1.624],
    ['8xlarge', 32, 128, 1, 4, 15, 2.448],
    ['12xlarge', 48, 192, 4, 15, 50, 5.672],
    ['16xlarge', 64, 256, 1, 4, 15, 4.096],
    ['24xlarge', 96, 384, 4, 15, 50, 8.144],
    ['48xlarge', 192, 768, 8, 7, 50, 16.288],
  ],
};

const GPU_MODEL: Partial<Record<Family, string>> = { p3: 'NVIDIA V100', g4dn: 'NVIDIA T4', g5: 'NVIDIA A10G' };

/**
 * On-demand price of a region relative to us-east-1. us-east-2 and us-west-2
 * list the same prices as us-east-1 for every family here. The others are the
 * ratio of the c5/m5/r5 list prices (rounded to 0.01; individual types can
 * differ by a few percent), so their estimates are approximate. Any other
 * region is rejected with `UnknownRegionError` rather than guessed.
 */
export const REGION_PRICE_MULTIPLIER: Readonly<Record<string, number>> = {
  'us-east-1': 1,
  'us-east-2': 1,
  'us-west-2': 1,
  'us-west-1': 1.24,
  'eu-west-1': 1.13,
  'eu-central-1': 1.14,
  'eu-west-2': 1.18,
  'ap-southeast-1': 1.15,
  'ap-southeast-2': 1.17,
  'ap-northeast-1': 1.26,
  'ca-central-1': 1.09,
};

/** ENIs × (IPv4 per ENI − 1) + 2, the EKS max-pods formula. */
export function maxPodsFor(enis: number, ipv4PerEni: number): number {
  return enis * (ipv4PerEni - 1) + 2;
}

function build(): Map<string, InstanceType> {
  const out = new Map<string, InstanceType>();
  for (const family of FAMILIES) {
    for (const [size, vcpu, memoryGiB, gpus, enis, ipv4PerEni, price] of ROWS[family]) {
      const name = `${family}.${size}`;
      const gpuModel = GPU_MODEL[family];
      out.set(name, {
        name,
        family,
        vcpu,
        memoryGiB,
        gpus,
        ...(gpus > 0 && gpuModel ? { gpuModel } : {}),
        enis,
        ipv4PerEni,
        maxPods: maxPodsFor(enis, ipv4PerEni),
        pricePerHour: price,
        region: BASE_REGION,
      });
    }
  }
  return out;
}

const CATALOG = build();

/** Every instance type name in the catalog, in family then size order. */
export function instanceTypeNames(): string[] {
  return [...CATALOG.keys()];
}

export function isKnownInstanceType(name: string): boolean {
  return CATALOG.has(name);
}

export function knownRegions(): string[] {
  return Object.keys(REGION_PRICE_MULTIPLIER);
}

/** Price multiplier for `region`; throws `UnknownRegionError` for regions not in the table. */
export function regionMultiplier(region: string): number {
  const m = REGION_PRICE_MULTIPLIER[region];
  if (m === undefined) throw new UnknownRegionError(region, knownRegions());
  return m;
}

/**
 * One instance type with its price in `region`. Throws
 * `UnknownInstanceTypeError` (with the nearest names) or `UnknownRegionError`.
 */
export function getInstanceType(name: string, region: string = BASE_REGION): InstanceType {
  const base = CATALOG.get(name);
  if (!base) throw new UnknownInstanceTypeError(name, nearestInstanceTypes(name));
  const multiplier = regionMultiplier(region);
  return { ...base, region, pricePerHour: roundPrice(base.pricePerHour * multiplier) };
}

/** All instance types of the catalog priced in `region`. */
export function listInstanceTypes(region: string = BASE_REGION): InstanceType[] {
  return instanceTypeNames().map((n) => getInstanceType(n, region));
}

/** Instance types with at least one GPU, cheapest first. */
export function gpuInstanceTypes(): string[] {
  return [...CATALOG.values()]
    .filter((t) => t.gpus > 0)
    .sort((a, b) => a.pricePerHour - b.pricePerHour)
    .map((t) => t.name);
}

/**
 * The `limit` catalog names nearest to `name` by edit distance (the closest
 * first, ties in catalog order). Case and surrounding spaces are ignored.
 */
export function nearestInstanceTypes(name: string, limit = 3): string[] {
  const needle = name.trim().toLowerCase();
  const names = instanceTypeNames();
  return names
    .map((n, i) => ({ n, i, d: distance(needle, n) }))
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .slice(0, limit)
    .map((r) => r.n);
}

function roundPrice(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

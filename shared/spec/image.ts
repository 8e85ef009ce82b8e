/**
 * Container image references: what recc accepts in specs, templates and the
 * EKS deployment's configured image (issue 17 #8). A reference that floats
 * (`:latest`, or no tag, which means `latest`) makes two pods of one cluster
 * run different code after a push, and makes a cluster impossible to
 * reproduce, so it is refused everywhere; the deployment's own image on EKS
 * must be pinned by digest (`repo@sha256:<64 hex>`), which no push can move.
 */

/** `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, the Docker reference grammar, simplified. */
const REFERENCE = /^([a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@sha256:[a-f0-9]{64})?$/;

export interface ImageReference {
  /** Registry and repository path, without tag or digest. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>` */
  digest?: string;
}

/** Parse a reference, or undefined when it is not one (the registry host may hold upper-case letters, which are folded for the check only). */
export function parseImageReference(ref: string): ImageReference | undefined {
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > 512) return undefined;
  const slash = ref.indexOf('/');
  // A registry host (before the first "/", with a "." or ":" or "localhost") may be written in capitals.
  const host = slash > 0 ? ref.slice(0, slash) : '';
  const folded = host && /[.:]|^localhost$/i.test(host) ? host.toLowerCase() + ref.slice(slash) : ref;
  const m = REFERENCE.exec(folded);
  if (!m) return undefined;
  const at = ref.indexOf('@');
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  const tag = colon > lastSlash ? name.slice(colon + 1) : undefined;
  const repository = tag !== undefined ? name.slice(0, colon) : name;
  return { repository, ...(tag !== undefined ? { tag } : {}), ...(at >= 0 ? { digest: ref.slice(at + 1) } : {}) };
}

/**
 * Why a reference cannot be used in a spec or template, or undefined when it
 * can: it must name a tag other than `latest`, or a digest.
 */
export function imageReferenceProblem(ref: string): string | undefined {
  const parsed = parseImageReference(ref);
  if (!parsed) return 'must be a container image reference such as "registry.example.org/recc:1.4.0" or "recc@sha256:<64 hex digits>"';
  if (parsed.digest) return undefined;
  if (parsed.tag === undefined) return 'must name a tag or a digest (such as "recc:1.4.0" or "recc@sha256:<64 hex digits>"): an untagged image means "latest", which moves with every push';
  if (parsed.tag === 'latest') return 'must not use the "latest" tag, which moves with every push: name a version tag or a digest (such as "recc@sha256:<64 hex digits>")';
  return undefined;
}

/** Why a reference is not pinned by digest, or undefined when it is (the deployment's image on EKS). */
export function digestPinProblem(ref: string): string | undefined {
  const parsed = parseImageReference(ref);
  if (!parsed) return 'must be a container image reference pinned by digest, such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/recc@sha256:<64 hex digits>';
  if (!parsed.digest) return `must be pinned by digest ("${parsed.repository}@sha256:<64 hex digits>"), not by ${parsed.tag === undefined ? 'no tag' : `the tag "${parsed.tag}"`}: a tag can be moved by a push`;
  return undefined;
}

/**
 * The image a definition carries when nothing names one on a backend that
 * runs no container (the local backend runs this checkout's code). Never
 * reaches EKS: its backend always has a configured, digest-pinned image.
 */
export const LOCAL_IMAGE = 'recc:local';

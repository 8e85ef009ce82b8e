/**
 * A user's own alert address, `<owner>@<domain>`, built only when the owner
 * is a plain mailbox name. Owners come from IAM principals and job
 * definitions; a crafted one (`bob@evil.example`, `a,b`, `x y`, a newline, a
 * display name with `<…>`) would otherwise add recipients or headers of its
 * choosing. Pure.
 */

/**
 * Letters, digits and `. _ + -` (the characters user names have), not
 * starting or ending with a dot nor with two dots in a row, at most 64
 * characters (RFC 5321 local-part limit). Deliberately stricter than RFC 5322
 * dot-atoms: none of the other specials (! # $ % & ' * = ? ^ { | } ~, the slash and the backtick), which some mail systems treat specially.
 */
export const SAFE_LOCAL_PART = /^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9._+-]{1,64}$/;

/** A DNS name of at least two labels: `corp.example`. */
export const MAIL_DOMAIN = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

export function isSafeLocalPart(owner: string): boolean {
  return typeof owner === 'string' && SAFE_LOCAL_PART.test(owner);
}

/** `<owner>@<domain>`, or undefined when the owner is not a plain mailbox name (or the domain is not a domain). */
export function userEmailAddress(owner: string, domain: string): string | undefined {
  if (!isSafeLocalPart(owner) || !MAIL_DOMAIN.test(domain)) return undefined;
  return `${owner}@${domain}`;
}

/** The addresses of those owners that can have one, and the owners refused (to log). */
export function userEmailAddresses(owners: readonly string[], domain: string): { to: string[]; refused: string[] } {
  const to: string[] = [];
  const refused: string[] = [];
  for (const owner of owners) {
    const address = userEmailAddress(owner, domain);
    if (address === undefined) refused.push(owner);
    else if (!to.includes(address)) to.push(address);
  }
  return { to, refused };
}

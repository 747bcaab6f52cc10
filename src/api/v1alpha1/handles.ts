// Participant handles are Matrix localparts, and in a war room opened because identities may be compromised, a
// pseudonym that merely *looks like* another one (`a1ice` next to `alice`) is an impersonation vector. These rules are
// shared by the zod schema and the CEL the CRD carries, so both sides agree on what a handle may be.

/** What Synapse accepts as a localpart (`check_username`), minus `/`, and never starting with `_`. */
export const HANDLE_PATTERN = '^[a-z0-9.=-][a-z0-9._=-]*$';
export const HANDLE_MAX_LENGTH = 64;

/** Synapse refuses localparts Python's `int()` accepts: "Numeric user IDs are reserved for guest users." */
export const NUMERIC_HANDLE_PATTERN = '^-?[0-9]+(_[0-9]+)*$';

/** Handles whose skeleton starts with this are kept for the operator's own accounts (admin bot, recorder). */
export const RESERVED_HANDLE_PREFIX = 'warroom';

// Order matters: separators go first so `r.n` cannot hide an `rn`; the CEL expression below applies the same steps.
const SKELETON_STEPS: ReadonlyArray<readonly [string, string]> = [
  ['.', ''],
  ['_', ''],
  ['-', ''],
  ['=', ''],
  ['0', 'o'],
  ['1', 'l'],
  ['rn', 'm'],
  ['vv', 'w'],
];

/** A handle reduced to how it reads: separators dropped, look-alike glyphs folded (`a1.ice` → `alice`). */
export function handleSkeleton(handle: string): string {
  let s = handle;
  for (const [from, to] of SKELETON_STEPS) s = s.replaceAll(from, to);
  return s;
}

/** The same reduction as a CEL expression over `subject` (CEL's `replace` replaces every occurrence, like ours). */
export function handleSkeletonCel(subject: string): string {
  return SKELETON_STEPS.reduce((expr, [from, to]) => `${expr}.replace('${from}', '${to}')`, subject);
}

export function isReservedHandle(handle: string): boolean {
  return handleSkeleton(handle).startsWith(RESERVED_HANDLE_PREFIX);
}

export function isNumericHandle(handle: string): boolean {
  return new RegExp(NUMERIC_HANDLE_PATTERN).test(handle);
}

/** Pairs of distinct handles that read the same; exact duplicates are a different error and are not reported here. */
export function findLookalikeHandles(handles: readonly string[]): Array<[string, string]> {
  const firstBySkeleton = new Map<string, string>();
  const pairs: Array<[string, string]> = [];
  for (const handle of handles) {
    const skeleton = handleSkeleton(handle);
    const earlier = firstBySkeleton.get(skeleton);
    if (earlier === undefined) firstBySkeleton.set(skeleton, handle);
    else if (earlier !== handle) pairs.push([earlier, handle]);
  }
  return pairs;
}

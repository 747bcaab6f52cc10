import { createHash } from 'node:crypto';

export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'warroom';
export const LABEL_CHANNEL = 'warroom.dev/channel';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const ANNOTATION_CHANNEL_UID = 'warroom.dev/channel-uid';
export const FINALIZER = 'warroom.dev/teardown';
/** Set to "true" by an admin to delete the namespace even though the evidence could not be verified. */
export const ANNOTATION_FORCE_DELETE = 'warroom.dev/force-delete';

/**
 * A case id (`IR-2026-0042`, `JIRA:SEC-12`, `sn/INC001`, even `###`) as lower-case letters, digits and single inner
 * hyphens, at most `maxLength` long: safe as part of a DNS label and of a file name (no `/`, no `..`, no leading dot
 * or hyphen). Empty when the id has no letter or digit at all; callers add their own fallback.
 */
export function caseSlug(caseId: string, maxLength: number): string {
  return caseId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, Math.max(0, maxLength))
    .replace(/-+$/, '');
}

const shortHash = (value: string, length: number) => createHash('sha256').update(value).digest('hex').slice(0, length);

/**
 * `wr-<case slug>-<6 hex of the channel uid>`: readable in `kubectl get ns`, a valid DNS-1123 label (≤ 63), and new
 * for every incarnation of a channel name, so a re-created channel never collides with a namespace still terminating.
 */
export function namespaceName(caseId: string, channelUid: string, prefix = 'wr'): string {
  const hash = shortHash(channelUid, 6);
  const slug = caseSlug(caseId, 63 - prefix.length - hash.length - 2);
  return slug ? `${prefix}-${slug}-${hash}` : `${prefix}-${hash}`;
}

/**
 * The evidence archive's file name: `<case slug>-<channel uid>.tar`, a plain file name whatever the case id holds
 * (`sn/INC001` must not become a directory, `..` not a way out of the store). The exact case id is in the signed
 * manifest inside; the uid keeps two channels whose ids share a slug (`INC-1`, `inc#1`) apart.
 */
export function evidenceArchiveName(caseId: string, channelUid: string): string {
  const uid = channelUid.replace(/[^A-Za-z0-9-]+/g, '').slice(0, 64) || shortHash(channelUid, 12);
  return `${caseSlug(caseId, 80) || 'case'}-${uid}.tar`;
}

/** Labels every child carries: the prune step selects on them, and humans filter on them. */
export function channelLabels(channelName: string, component?: string): Record<string, string> {
  return {
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_CHANNEL]: labelValue(channelName),
    ...(component ? { [LABEL_COMPONENT]: component, [LABEL_NAME]: component } : {}),
  };
}

/** Label values are ≤ 63 chars; channel names can be up to 253, so long ones are shortened with a hash. */
export function labelValue(value: string): string {
  if (value.length <= 63) return value;
  const hash = shortHash(value, 8);
  return `${value.slice(0, 54).replace(/[^a-zA-Z0-9]+$/, '')}-${hash}`;
}

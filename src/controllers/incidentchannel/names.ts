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
 * `wr-<case slug>-<6 hex of the channel uid>`: readable in `kubectl get ns`, a valid DNS-1123 label (≤ 63), and new
 * for every incarnation of a channel name, so a re-created channel never collides with a namespace still terminating.
 */
export function namespaceName(caseId: string, channelUid: string, prefix = 'wr'): string {
  const hash = createHash('sha256').update(channelUid).digest('hex').slice(0, 6);
  const budget = 63 - prefix.length - hash.length - 2;
  const slug = caseId
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .slice(0, budget)
    .replace(/^-+|-+$/g, '');
  return slug ? `${prefix}-${slug}-${hash}` : `${prefix}-${hash}`;
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
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 8);
  return `${value.slice(0, 54).replace(/[^a-zA-Z0-9]+$/, '')}-${hash}`;
}

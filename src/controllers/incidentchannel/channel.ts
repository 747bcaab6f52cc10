import { parseDuration } from '../../api/v1alpha1/duration.ts';
import {
  API_VERSION,
  IncidentChannelSpec,
  KIND,
  type IncidentChannelSpec as Spec,
} from '../../api/v1alpha1/incidentchannel.ts';
import type { KubeObject, ObjectRef } from '../../kube/objects.ts';
import type { ChannelStatus } from './status.ts';

export const channelRef = (name: string): ObjectRef => ({ apiVersion: API_VERSION, kind: KIND, name });

export interface ChannelState {
  name: string;
  uid: string;
  spec: Spec;
  status?: ChannelStatus;
  ttlMs: number;
}

export type ParseResult = { ok: true; channel: ChannelState } | { ok: false; error: string };

/**
 * What the CRD cannot check, zod does here; a failure becomes a readable Stalled reason in status, never a crash or
 * a retry loop. The message names the field, so a SOC lead can fix the YAML without reading operator logs.
 */
export function parseChannel(obj: KubeObject): ParseResult {
  const result = IncidentChannelSpec.safeParse((obj as { spec?: unknown }).spec);
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 5)
      .map((i) => `spec.${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    return { ok: false, error: `invalid IncidentChannel: ${issues.join('; ')}` };
  }
  const spec = result.data;
  const ttlMs = parseDuration(spec.ttl);
  if (ttlMs === undefined) return { ok: false, error: `invalid IncidentChannel: spec.ttl: cannot parse "${spec.ttl}"` };
  return {
    ok: true,
    channel: {
      name: obj.metadata.name,
      uid: obj.metadata.uid ?? '',
      spec,
      status: (obj as { status?: ChannelStatus }).status,
      ttlMs,
    },
  };
}

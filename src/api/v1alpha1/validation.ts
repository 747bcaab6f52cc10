// Runtime validation of a stored IncidentChannel spec, for what admission could not (or did not) check. The message
// is meant for the Stalled condition: it names each field so a SOC lead can fix the YAML without the operator logs.
import type { z } from 'zod';
import { IncidentChannelSpec } from './incidentchannel.ts';

export type SpecValidation =
  | { ok: true; spec: IncidentChannelSpec }
  | { ok: false; message: string; problems: string[] };

// Well under metav1.Condition's 32768: a condition message is read in `kubectl describe`, not scrolled.
const MAX_MESSAGE_LENGTH = 4096;

/** `spec.participants[1].handle: <message>` for each issue. */
export function describeIssues(error: z.ZodError, root = 'spec'): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.reduce<string>(
      (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}.${String(key)}`),
      root,
    );
    return `${path}: ${issue.message}`;
  });
}

export function validateSpec(spec: unknown): SpecValidation {
  const result = IncidentChannelSpec.safeParse(spec);
  if (result.success) return { ok: true, spec: result.data };
  const problems = describeIssues(result.error);
  let message = problems.join('; ');
  if (message.length > MAX_MESSAGE_LENGTH) message = `${message.slice(0, MAX_MESSAGE_LENGTH - 1)}…`;
  return { ok: false, message, problems };
}

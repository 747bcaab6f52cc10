// The status API's request and response shapes. Responses are an allow-list: these fields and nothing else leave
// the process, whatever the IncidentChannel status holds (the serializer parses every response with these schemas,
// which drops unknown keys). Participant handles, the credentials Secret name and spec internals are deliberately
// absent: the API is for watching war rooms, not for finding out who is in them.
import { z } from 'zod';
import { LIMITS, type Phase } from '../api/v1alpha1/incidentchannel.ts';
import { CHANNEL_PHASES } from '../observability/metrics.ts';

export const PHASES = CHANNEL_PHASES satisfies readonly Phase[];
export const PhaseSchema = z.enum(PHASES);

/** Kubernetes object names: a DNS-1123 subdomain. */
export const CHANNEL_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const ChannelParams = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(253)
    .regex(CHANNEL_NAME_PATTERN, 'must be a Kubernetes object name (DNS-1123 subdomain)')
    .meta({ description: 'IncidentChannel name' }),
});

export const ChannelListQuery = z.strictObject({
  phase: PhaseSchema.optional().meta({ description: 'Only channels in this phase' }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .optional()
    .meta({ description: 'At most this many items; the response says how to get the rest (`continue`)' }),
  continue: z
    .string()
    .max(1024)
    .optional()
    .meta({ description: 'The `continue` token of the previous page: the items after it, by name' }),
});

const timestamp = () => z.string().max(64).meta({ format: 'date-time' });

export const ConditionView = z.object({
  type: z.string().max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().max(1024),
  message: z.string().max(32768),
  lastTransitionTime: timestamp().optional(),
  observedGeneration: z.int().min(0).optional(),
});

export const ChannelSummary = z
  .object({
    name: z.string(),
    caseId: z
      .string()
      .max(LIMITS.caseIdMaxLength)
      .optional()
      .meta({ description: 'As the incident tracker writes it, e.g. IR-2026-0042 or JIRA:SEC-12' }),
    severity: z.string().optional(),
    phase: PhaseSchema,
    ready: z.boolean().meta({ description: 'The Ready condition is True' }),
    deleting: z.boolean().meta({ description: 'The IncidentChannel has a deletionTimestamp' }),
    namespace: z.string().optional().meta({ description: 'The war-room namespace' }),
    createdAt: timestamp().optional(),
    expiresAt: timestamp().optional(),
    secondsLeft: z.int().min(0).optional().meta({ description: 'Until expiresAt; 0 once it has passed' }),
    participantCount: z.int().min(0),
  })
  .meta({ description: 'An IncidentChannel, in brief' });

export const ChannelDetail = ChannelSummary.extend({
  title: z.string().optional(),
  closed: z.boolean(),
  closedAt: timestamp().optional(),
  generation: z.int().min(0).optional(),
  observedGeneration: z.int().min(0).optional(),
  conditions: z.array(ConditionView),
  endpoints: z.object({
    element: z.string().optional().meta({ description: 'Element web URL' }),
    homeserver: z.string().optional().meta({ description: 'Homeserver base URL for Matrix clients' }),
    turn: z.array(z.string()).meta({ description: 'TURN URIs' }),
  }),
  recording: z.object({
    events: z.int().min(0).optional().meta({ description: 'Events in the transcript so far' }),
    headHash: z
      .string()
      .regex(/^[a-f0-9]{64}$/)
      .optional()
      .meta({ description: 'sha256 of the last transcript line' }),
  }),
  archive: z
    .object({
      location: z.string().optional().meta({ description: 'Where the evidence bundle is (credentials removed)' }),
      sha256: z
        .string()
        .regex(/^[a-f0-9]{64}$/)
        .optional(),
      verifiedAt: timestamp().optional(),
    })
    .optional(),
}).meta({ description: 'An IncidentChannel: phase, conditions, expiry, endpoints, recording and archive' });

export const ChannelList = z
  .object({
    items: z.array(ChannelSummary),
    count: z.int().min(0).meta({ description: 'Items in this response' }),
    continue: z.string().optional().meta({ description: 'Present when there are more: pass it as ?continue=' }),
    remainingItemCount: z.int().min(0).optional().meta({ description: 'Items after this page' }),
  })
  .meta({ description: 'IncidentChannels, sorted by name' });

export type ChannelSummary = z.infer<typeof ChannelSummary>;
export type ChannelDetail = z.infer<typeof ChannelDetail>;
export type ChannelList = z.infer<typeof ChannelList>;
export type ConditionView = z.infer<typeof ConditionView>;

/** 304: the body the client has (its If-None-Match) is still current; nothing is sent. */
export const NotModified = z.null().meta({ description: 'Not Modified: the tag in If-None-Match is still current' });

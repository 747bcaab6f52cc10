// The IncidentChannel API, v1alpha1. This zod schema is the single source of truth: the CRD in crds/ is generated from
// it (crd.ts), and the reconciler parses every object with it. Each rule the apiserver can enforce is declared here
// as CEL (`.meta({'x-kubernetes-validations'})`) next to the field, and mirrored as a zod refinement with the same
// message, so an object that slipped past admission (or was stored before a rule existed) still stops the reconciler.
// The few rules CEL cannot afford are zod-only; they surface as `Stalled=True, reason=InvalidSpec`.
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import {
  findLookalikeHandles,
  HANDLE_MAX_LENGTH,
  HANDLE_PATTERN,
  handleSkeletonCel,
  isNumericHandle,
  isReservedHandle,
  NUMERIC_HANDLE_PATTERN,
  RESERVED_HANDLE_PREFIX,
} from './handles.ts';
import { compareQuantities, isQuantity, QUANTITY_PATTERN } from './quantity.ts';

export const GROUP = 'warroom.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'IncidentChannel';
export const PLURAL = 'incidentchannels';
export const SINGULAR = 'incidentchannel';
export const SHORT_NAMES: readonly string[] = ['ic', 'incident'];
export const CATEGORIES: readonly string[] = ['warroom'];

/** Bounds shared by the schema, the CEL rules and the tests. */
export const LIMITS = {
  caseIdMaxLength: 64,
  ttlMin: '10m',
  ttlMax: '8760h',
  participantsMax: 200,
  relayPortsMax: 100,
  nodePortMin: 30000,
  nodePortMax: 32767,
  storageMin: '1Gi',
  conditionsMax: 32,
} as const;

/** The messages of the rules that exist both as CEL (admission) and as zod refinements (runtime), kept identical. */
export const RULE_MESSAGES = {
  caseIdImmutable: 'caseId is immutable',
  accessSystemIdentity:
    "system: users and groups are refused: they stand for every authenticated client (system:authenticated), every service account (system:serviceaccounts), anonymous clients (system:anonymous, system:unauthenticated) or Kubernetes' own components, and binding one would give them read access to the participants' password Secrets; name people, or a group of your own",
  leadRequired:
    'at least one participant must have role lead: only a lead can moderate the rooms (a participant without a role is a responder)',
  hostIsIp:
    'must be a DNS name, not an IP address (Ingress and TURN hosts are names); put IP addresses in calls.turn.externalIPs',
  ttlTooShort: `ttl must be at least ${LIMITS.ttlMin}`,
  ttlTooLong: `ttl must be at most ${LIMITS.ttlMax}`,
  ttlUnparseable: 'ttl is not a valid duration (too large?)',
  handleNumeric: 'handle must not be purely numeric: Synapse reserves numeric user IDs for guests',
  handleReserved: `handles that read as '${RESERVED_HANDLE_PREFIX}...' are reserved for the operator's own accounts`,
  hostsMustDiffer: 'matrixHost must differ from host: Element and the homeserver are served on separate hosts',
  tlsExactlyOne: 'tls: set exactly one of secretName or clusterIssuer',
  relayPortsInverted: 'relayPorts.max must be greater than or equal to relayPorts.min',
  relayPortsTooMany: `relayPorts may span at most ${LIMITS.relayPortsMax} ports`,
  relayPortsNodePort: `with serviceType NodePort, relayPorts must lie within the NodePort range ${LIMITS.nodePortMin}-${LIMITS.nodePortMax}`,
  externalIpInvalid: 'externalIPs entries must be IPv4 or IPv6 addresses',
  sfuNodePort: `with serviceType NodePort, the SFU's tcpPort and udpPort must lie within the NodePort range ${LIMITS.nodePortMin}-${LIMITS.nodePortMax} (LiveKit advertises the port it listens on)`,
  sfuPortsDistinct: 'the SFU tcpPort and udpPort must differ',
  sfuNodeIpInvalid: 'sfu.nodeIP must be an IPv4 address',
  storageTooSmall: `storage.size must be at least ${LIMITS.storageMin}`,
  storageImmutable: 'storage is immutable: the homeserver volume claim cannot change after creation',
  databaseImmutable: 'database is immutable: switching engines would lose the homeserver state',
  recordingOneWay: 'recording cannot be disabled once enabled: the transcript is the evidence chain',
  closedOneWay: 'a closed IncidentChannel cannot be reopened',
  cpuRequestOverLimit: 'requests.cpu must not exceed limits.cpu',
  memoryRequestOverLimit: 'requests.memory must not exceed limits.memory',
  duplicateHandle: 'participant handles must be unique',
  lookalikeHandles: 'handles look alike and could be mistaken for each other',
} as const;

interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
}

const cel = (...rules: CelRule[]) => ({ 'x-kubernetes-validations': rules });

// DNS-1123 subdomain: host names, and the names of Secrets, classes and issuers.
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
// What ticket systems write: `IR-2026-0042`, `INC0012345`, `JIRA:SEC-12`, `case#42`, `sn/INC001`. Never a namespace or
// file name as is: names.ts derives the DNS slug, and every other use treats it as text.
const CASE_ID_PATTERN = '^[A-Za-z0-9._:#/-]+$';
const CASE_ID_FORMAT = `1 to ${LIMITS.caseIdMaxLength} letters, digits and - _ . : # /`;
// A subset of Go durations (`72h`, `90m`, `1h30m`, `1.5h`): hours, minutes and seconds only, no sign.
const TTL_PATTERN = '^([0-9]+(\\.[0-9]+)?(h|m|s))+$';
// registry[:port]/path[:tag][@sha256:digest], lower-case path components as in the distribution spec.
const IMAGE_PATTERN =
  '^[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$';
const SHA256_HEX = '^[a-f0-9]{64}$';
// metav1.Condition, exactly as the apimachinery validation markers define it.
const CONDITION_TYPE =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';
const CONDITION_REASON = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

const pattern = (source: string) => new RegExp(source);
const TTL_BOUNDS_MS = { ttlMin: parseDuration(LIMITS.ttlMin) ?? 0, ttlMax: parseDuration(LIMITS.ttlMax) ?? 0 };
const ttlProblem = (ttl: string): string | undefined => {
  const ms = parseDuration(ttl);
  if (ms === undefined) return RULE_MESSAGES.ttlUnparseable;
  if (ms < TTL_BOUNDS_MS.ttlMin) return RULE_MESSAGES.ttlTooShort;
  if (ms > TTL_BOUNDS_MS.ttlMax) return RULE_MESSAGES.ttlTooLong;
  return undefined;
};
const dnsSubdomain = (max = 253) =>
  z.string().max(max).regex(pattern(DNS_SUBDOMAIN), 'must be a lower-case DNS name (e.g. chat.example.org)');
// 192.0.2.10 is also a DNS-1123 subdomain; the apiserver refuses it in an Ingress only when the Ingress is applied.
// zod runs the refinement even when the pattern failed, as the apiserver runs CEL next to the pattern, so an IPv6
// address gets the same message either way.
const hostName = (max = 253) =>
  dnsSubdomain(max)
    .refine((host) => isIP(host) === 0, RULE_MESSAGES.hostIsIp)
    .meta(cel({ rule: '!isIP(self)', message: RULE_MESSAGES.hostIsIp }));
const quantity = () =>
  z.string().max(32).regex(pattern(QUANTITY_PATTERN), 'must be a quantity such as "500m" or "1Gi"');
const image = () => z.string().max(512).regex(pattern(IMAGE_PATTERN), 'must be an image reference').optional();
const dateTime = () => z.iso.datetime({ offset: true }).max(64);
const stringSet = (maxItems: number, maxLength: number, item = z.string().min(1).max(maxLength)) =>
  z
    .array(item)
    .max(maxItems)
    .refine((xs) => new Set(xs).size === xs.length, 'entries must be unique')
    .meta({ 'x-kubernetes-list-type': 'set' });

// ---------------------------------------------------------------------------------------------------------------
// Spec

export const Severity = z.enum(['low', 'medium', 'high', 'critical']);
export const ParticipantRole = z.enum(['lead', 'comms', 'scribe', 'responder', 'observer']);
export const TurnServiceType = z.enum(['LoadBalancer', 'NodePort']);
export const DatabaseEngine = z.enum(['sqlite', 'postgres']);

export const Participant = z.object({
  handle: z
    .string()
    .max(HANDLE_MAX_LENGTH)
    .regex(pattern(HANDLE_PATTERN), 'must be lower-case letters, digits and . _ = - (not starting with _)')
    .refine((h) => !isNumericHandle(h), RULE_MESSAGES.handleNumeric)
    .refine((h) => !isReservedHandle(h), RULE_MESSAGES.handleReserved)
    .meta({
      description:
        'Pseudonym, used as the Matrix localpart (@handle:matrixHost). Never a real name or a corporate login: the ' +
        'war room exists because those may be compromised.',
      ...cel(
        { rule: `!self.matches('${NUMERIC_HANDLE_PATTERN}')`, message: RULE_MESSAGES.handleNumeric },
        {
          rule: `!${handleSkeletonCel('self')}.startsWith('${RESERVED_HANDLE_PREFIX}')`,
          message: RULE_MESSAGES.handleReserved,
        },
      ),
    }),
  role: ParticipantRole.default('responder').meta({
    description: 'Decides the power level in the rooms, from lead (highest) to observer (lowest).',
  }),
});

// `system:` is the prefix Kubernetes reserves for its own identities; every one of them is either far wider than a
// person (system:authenticated, system:serviceaccounts[:<ns>]), anonymous (system:anonymous, system:unauthenticated)
// or a component (system:masters, system:nodes, system:serviceaccount:<ns>:<name>, system:kube-*). A Role binding
// one of them would hand the participants' passwords to far more than the people the lead meant.
const SYSTEM_IDENTITY_PREFIX = 'system:';
const isSystemIdentity = (name: string): boolean => name.startsWith(SYSTEM_IDENTITY_PREFIX);
const accessSubject = () =>
  z
    .string()
    .min(1)
    .max(256)
    .refine((name) => !isSystemIdentity(name), RULE_MESSAGES.accessSystemIdentity)
    .meta(cel({ rule: `!self.startsWith('${SYSTEM_IDENTITY_PREFIX}')`, message: RULE_MESSAGES.accessSystemIdentity }));

export const Access = z.object({
  groups: stringSet(32, 256, accessSubject())
    .optional()
    .meta({ description: 'Kubernetes groups allowed to read the credentials Secret (no system: groups).' }),
  users: stringSet(32, 256, accessSubject())
    .optional()
    .meta({ description: 'Kubernetes users allowed to read the credentials Secret (no system: users).' }),
});

export const IngressTls = z
  .object({
    secretName: dnsSubdomain().optional().meta({ description: 'An existing TLS Secret in the war-room namespace.' }),
    clusterIssuer: dnsSubdomain().optional().meta({ description: 'A cert-manager ClusterIssuer to request one from.' }),
  })
  .superRefine((tls, ctx) => {
    if ((tls.secretName === undefined) === (tls.clusterIssuer === undefined)) {
      ctx.addIssue({ code: 'custom', message: RULE_MESSAGES.tlsExactlyOne });
    }
  })
  .meta(cel({ rule: 'has(self.secretName) != has(self.clusterIssuer)', message: RULE_MESSAGES.tlsExactlyOne }));

export const Ingress = z
  .object({
    className: dnsSubdomain().optional().meta({ description: 'IngressClass name; the cluster default when unset.' }),
    host: hostName().meta({ description: 'Host serving Element web (a DNS name, not an IP address).' }),
    // 189 = 255 (Matrix user ID limit) - 64 (longest handle) - 2 ('@' and ':').
    matrixHost: hostName(189).meta({
      description:
        'Host serving the homeserver client API; also the Matrix server_name. A DNS name, different from host.',
    }),
    tls: IngressTls.optional(),
  })
  .superRefine((ingress, ctx) => {
    if (ingress.host === ingress.matrixHost) {
      ctx.addIssue({ code: 'custom', message: RULE_MESSAGES.hostsMustDiffer, path: ['matrixHost'] });
    }
  })
  .meta(
    cel({ rule: 'self.matrixHost != self.host', message: RULE_MESSAGES.hostsMustDiffer, fieldPath: '.matrixHost' }),
  );

export const RelayPorts = z
  .object({
    min: z.int().min(1024).max(65535),
    max: z.int().min(1024).max(65535),
  })
  .superRefine((ports, ctx) => {
    if (ports.max < ports.min) {
      ctx.addIssue({ code: 'custom', message: RULE_MESSAGES.relayPortsInverted, path: ['max'] });
    } else if (ports.max - ports.min >= LIMITS.relayPortsMax) {
      ctx.addIssue({ code: 'custom', message: RULE_MESSAGES.relayPortsTooMany, path: ['max'] });
    }
  })
  .meta({
    description: 'Inclusive UDP port range coturn relays media on; each port is exposed, so keep it small.',
    ...cel(
      { rule: 'self.max >= self.min', message: RULE_MESSAGES.relayPortsInverted, fieldPath: '.max' },
      {
        rule: `self.max - self.min < ${LIMITS.relayPortsMax}`,
        message: RULE_MESSAGES.relayPortsTooMany,
        fieldPath: '.max',
      },
    ),
  });

const inNodePortRange = (p: { min: number; max: number }) => p.min >= LIMITS.nodePortMin && p.max <= LIMITS.nodePortMax;

export const Turn = z
  .object({
    serviceType: TurnServiceType.default('NodePort'),
    externalIPs: z
      .array(
        z
          .string()
          .max(45)
          .refine((ip) => isIP(ip) !== 0, RULE_MESSAGES.externalIpInvalid)
          .meta(cel({ rule: 'isIP(self)', message: RULE_MESSAGES.externalIpInvalid })),
      )
      .max(8)
      .refine((xs) => new Set(xs).size === xs.length, 'entries must be unique')
      .optional()
      .meta({
        description:
          'Public addresses coturn advertises (external-ip); needed behind NAT. Also put on the Services and allowed ' +
          'as relay peers, except loopback and link-local ones (advertised only, e.g. 127.0.0.1 on kind).',
        'x-kubernetes-list-type': 'set',
      }),
    host: hostName()
      .optional()
      .meta({ description: 'DNS name put in the TURN URIs given to clients; addresses go in externalIPs.' }),
    relayPorts: RelayPorts.optional(),
  })
  .superRefine((turn, ctx) => {
    if (turn.relayPorts && turn.serviceType === 'NodePort' && !inNodePortRange(turn.relayPorts)) {
      ctx.addIssue({ code: 'custom', message: RULE_MESSAGES.relayPortsNodePort, path: ['relayPorts'] });
    }
  })
  .meta(
    cel({
      rule:
        "!has(self.relayPorts) || (has(self.serviceType) && self.serviceType == 'LoadBalancer') || " +
        `(self.relayPorts.min >= ${LIMITS.nodePortMin} && self.relayPorts.max <= ${LIMITS.nodePortMax})`,
      message: RULE_MESSAGES.relayPortsNodePort,
      fieldPath: '.relayPorts',
    }),
  );

const SFU_NODE_PORT_MESSAGE = RULE_MESSAGES.sfuNodePort;
const SFU_PORTS_DISTINCT = RULE_MESSAGES.sfuPortsDistinct;

/**
 * MatrixRTC calls (Element Call, Element X) on a LiveKit SFU of the war room's own, next to coturn's legacy 1:1 calls.
 * Present = on. The media ports are exposed like coturn's, each on the same port number, because LiveKit advertises
 * the port it listens on in its ICE candidates.
 */
export const Sfu = z
  .object({
    tcpPort: z.int().min(1024).max(65535).default(7881).meta({ description: 'ICE over TCP (clients without UDP).' }),
    udpPort: z.int().min(1024).max(65535).default(7882).meta({ description: 'The one muxed UDP port for all media.' }),
    nodeIP: z
      .string()
      .max(45)
      .refine((ip) => isIP(ip) === 4, RULE_MESSAGES.sfuNodeIpInvalid)
      .optional()
      .meta({
        description:
          'Address the SFU advertises for media (no STUN discovery). Default: the first turn.externalIPs entry, else the pod address.',
        ...cel({ rule: 'isIP(self) && ip(self).family() == 4', message: RULE_MESSAGES.sfuNodeIpInvalid }),
      }),
  })
  .refine((sfu) => sfu.tcpPort !== sfu.udpPort, { message: SFU_PORTS_DISTINCT, path: ['udpPort'] })
  .meta(cel({ rule: 'self.tcpPort != self.udpPort', message: SFU_PORTS_DISTINCT, fieldPath: '.udpPort' }));

const sfuPortsInNodePortRange = (sfu: { tcpPort: number; udpPort: number }) =>
  [sfu.tcpPort, sfu.udpPort].every((port) => port >= LIMITS.nodePortMin && port <= LIMITS.nodePortMax);

export const Calls = z
  .object({
    enabled: z.boolean().default(true).meta({ description: 'Voice and video calls through coturn.' }),
    turn: Turn.prefault({}),
    sfu: Sfu.optional().meta({
      description: 'MatrixRTC (Element Call, Element X) through a LiveKit SFU and its authoriser in the war room.',
    }),
  })
  .superRefine((calls, ctx) => {
    if (calls.sfu && calls.turn.serviceType === 'NodePort' && !sfuPortsInNodePortRange(calls.sfu)) {
      ctx.addIssue({ code: 'custom', message: SFU_NODE_PORT_MESSAGE, path: ['sfu'] });
    }
  })
  .meta(
    cel({
      rule:
        "!has(self.sfu) || (has(self.turn) && has(self.turn.serviceType) && self.turn.serviceType == 'LoadBalancer') || " +
        `(self.sfu.tcpPort >= ${LIMITS.nodePortMin} && self.sfu.tcpPort <= ${LIMITS.nodePortMax} && ` +
        `self.sfu.udpPort >= ${LIMITS.nodePortMin} && self.sfu.udpPort <= ${LIMITS.nodePortMax})`,
      message: SFU_NODE_PORT_MESSAGE,
      fieldPath: '.sfu',
    }),
  );

export const Recording = z.object({
  enabled: z
    .boolean()
    .default(true)
    .meta({
      description: 'Run the recorder that keeps the tamper-evident transcript. Cannot be turned off once on.',
      ...cel({ rule: 'self || !oldSelf', message: RULE_MESSAGES.recordingOneWay }),
    }),
});

export const Storage = z
  .object({
    className: dnsSubdomain().optional().meta({ description: 'StorageClass of the homeserver volume.' }),
    size: quantity()
      .default('5Gi')
      // A malformed size is the pattern's error to report; zod runs this refinement regardless.
      .refine((q) => !isQuantity(q) || compareQuantities(q, LIMITS.storageMin) >= 0, RULE_MESSAGES.storageTooSmall)
      .meta({
        description: 'Size of the homeserver volume (database and media), e.g. "10Gi".',
        ...cel({
          rule: `quantity(self).compareTo(quantity('${LIMITS.storageMin}')) >= 0`,
          message: RULE_MESSAGES.storageTooSmall,
        }),
      }),
  })
  .meta(cel({ rule: 'self == oldSelf', message: RULE_MESSAGES.storageImmutable }));

export const Images = z.object({
  synapse: image(),
  element: image(),
  coturn: image(),
  recorder: image(),
  postgres: image(),
});

const ResourceList = z.object({
  cpu: quantity().optional().meta({ description: 'A quantity string, e.g. "250m" or "1" (quote plain numbers).' }),
  memory: quantity().optional().meta({ description: 'A quantity string, e.g. "256Mi".' }),
});

const requestWithinLimit = (resource: 'cpu' | 'memory') =>
  `!has(self.requests) || !has(self.limits) || !has(self.requests.${resource}) || !has(self.limits.${resource}) || ` +
  `quantity(self.requests.${resource}).compareTo(quantity(self.limits.${resource})) <= 0`;

export const ComponentResources = z
  .object({ requests: ResourceList.optional(), limits: ResourceList.optional() })
  .superRefine((r, ctx) => {
    for (const resource of ['cpu', 'memory'] as const) {
      const request = r.requests?.[resource];
      const limit = r.limits?.[resource];
      if (request && limit && isQuantity(request) && isQuantity(limit) && compareQuantities(request, limit) > 0) {
        const message = resource === 'cpu' ? RULE_MESSAGES.cpuRequestOverLimit : RULE_MESSAGES.memoryRequestOverLimit;
        ctx.addIssue({ code: 'custom', message, path: ['requests', resource] });
      }
    }
  })
  .meta(
    cel(
      { rule: requestWithinLimit('cpu'), message: RULE_MESSAGES.cpuRequestOverLimit, fieldPath: '.requests.cpu' },
      {
        rule: requestWithinLimit('memory'),
        message: RULE_MESSAGES.memoryRequestOverLimit,
        fieldPath: '.requests.memory',
      },
    ),
  );

export const Resources = z.object({
  synapse: ComponentResources.optional(),
  element: ComponentResources.optional(),
  coturn: ComponentResources.optional(),
  recorder: ComponentResources.optional(),
  postgres: ComponentResources.optional(),
});

const participantList = z
  .array(Participant)
  .min(1)
  .max(LIMITS.participantsMax)
  .superRefine((participants, ctx) => {
    const handles = participants.map((p) => p.handle);
    const seen = new Set<string>();
    handles.forEach((handle, i) => {
      if (seen.has(handle)) {
        ctx.addIssue({ code: 'custom', message: `${RULE_MESSAGES.duplicateHandle}: "${handle}"`, path: [i, 'handle'] });
      }
      seen.add(handle);
    });
    if (!participants.some((p) => p.role === 'lead')) {
      ctx.addIssue({ code: 'custom', message: RULE_MESSAGES.leadRequired });
    }
    // Zod-only on purpose: the pairwise CEL version over 200 handles exceeds the apiserver's cost budget (1.8x).
    for (const [a, b] of findLookalikeHandles(handles)) {
      ctx.addIssue({
        code: 'custom',
        message: `${RULE_MESSAGES.lookalikeHandles}: "${a}" and "${b}"`,
        path: [handles.lastIndexOf(b), 'handle'],
      });
    }
  })
  .meta({
    description:
      'The people in the war room, by pseudonym, at least one of them a lead. Each gets an account and an invitation ' +
      'to the rooms.',
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['handle'],
    // The apiserver defaults role before it runs CEL, so a participant without one is a responder here too; has()
    // only guards an object stored before the default existed. Not a transition rule: an update that removes the
    // only lead is refused like a create without one.
    ...cel({ rule: "self.exists(p, has(p.role) && p.role == 'lead')", message: RULE_MESSAGES.leadRequired }),
  });

export const IncidentChannelSpec = z
  .object({
    caseId: z
      .string()
      .min(1)
      .max(LIMITS.caseIdMaxLength)
      .regex(pattern(CASE_ID_PATTERN), `must be ${CASE_ID_FORMAT}`)
      .meta({
        description:
          `Case identifier as the incident tracker writes it (e.g. "IR-2026-0042", "INC0012345", "JIRA:SEC-12"): ` +
          `${CASE_ID_FORMAT}. The namespace name uses a lower-case slug of it. Immutable.`,
        ...cel({ rule: 'self == oldSelf', message: RULE_MESSAGES.caseIdImmutable }),
      }),
    title: z.string().max(256).optional().meta({ description: 'Short human title; shown in the room topic.' }),
    severity: Severity.default('medium'),
    ttl: z
      .string()
      .max(32)
      .regex(pattern(TTL_PATTERN), 'must be a duration in h, m and s, such as "72h" or "1h30m"')
      .superRefine((ttl, ctx) => {
        const message = ttlProblem(ttl);
        if (message) ctx.addIssue({ code: 'custom', message });
      })
      .meta({
        description:
          'Lifetime from creation, as a Go duration in h/m/s (e.g. "72h", "1h30m"). At least 10m; the operator ' +
          'may cap it lower (--max-ttl). Extending it on a live channel moves the expiry.',
        ...cel(
          { rule: `duration(self) >= duration('${LIMITS.ttlMin}')`, message: RULE_MESSAGES.ttlTooShort },
          { rule: `duration(self) <= duration('${LIMITS.ttlMax}')`, message: RULE_MESSAGES.ttlTooLong },
        ),
      }),
    closed: z
      .boolean()
      .default(false)
      .meta({ description: 'Set to true to close the case: evidence is exported, then the war room is deleted.' }),
    participants: participantList,
    access: Access.optional(),
    ingress: Ingress.optional().meta({ description: 'How browsers and Matrix clients reach the war room.' }),
    calls: Calls.prefault({}),
    recording: Recording.prefault({}),
    storage: Storage.prefault({}),
    database: DatabaseEngine.default('sqlite').meta({
      description: 'Homeserver database: sqlite in the Synapse volume, or a dedicated postgres. Immutable.',
      ...cel({ rule: 'self == oldSelf', message: RULE_MESSAGES.databaseImmutable }),
    }),
    images: Images.optional().meta({ description: 'Image overrides; the defaults are pinned by digest.' }),
    resources: Resources.optional().meta({ description: 'Per-component requests and limits.' }),
  })
  .meta({
    description: 'The war room the operator builds and, on closure or expiry, archives and deletes.',
    ...cel({
      rule: '!has(oldSelf.closed) || !oldSelf.closed || (has(self.closed) && self.closed)',
      message: RULE_MESSAGES.closedOneWay,
      fieldPath: '.closed',
    }),
  });

// ---------------------------------------------------------------------------------------------------------------
// Status

export const ConditionStatus = z.enum(['True', 'False', 'Unknown']);

export const Condition = z.object({
  type: z.string().max(316).regex(pattern(CONDITION_TYPE)),
  status: ConditionStatus,
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: dateTime().meta({ description: 'When status last changed (not reason or message).' }),
  reason: z.string().min(1).max(1024).regex(pattern(CONDITION_REASON)),
  message: z.string().max(32768),
});

export const Phase = z.enum([
  'Pending',
  'Provisioning',
  'Ready',
  'Expiring',
  'Archiving',
  'Closed',
  'Expired',
  'Failed',
]);

export const IncidentChannelStatus = z.object({
  phase: Phase.optional(),
  conditions: z
    .array(Condition)
    .max(LIMITS.conditionsMax)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  observedGeneration: z.int().min(0).optional(),
  namespace: z.string().max(63).optional().meta({ description: 'The war-room namespace.' }),
  expiresAt: dateTime().optional().meta({ description: 'creationTimestamp + ttl.' }),
  closedAt: dateTime().optional(),
  /** The TURN relay port block allocated to this channel when its spec names none (NodePorts are cluster-wide). */
  relayPorts: z.object({ min: z.number().int().min(1).max(65535), max: z.number().int().min(1).max(65535) }).optional(),
  participantCount: z
    .int()
    .min(0)
    .max(LIMITS.participantsMax)
    .optional()
    .meta({ description: 'Number of participants in the spec (a printer column cannot count a list).' }),
  endpoints: z
    .object({
      element: z.string().max(512).optional().meta({ description: 'Element web URL.' }),
      homeserver: z.string().max(512).optional().meta({ description: 'Homeserver base URL for Matrix clients.' }),
      turn: z.array(z.string().max(512)).max(8).optional().meta({ description: 'TURN URIs given to clients.' }),
      sfu: z.string().max(512).optional().meta({ description: 'LiveKit SFU signalling URL (MatrixRTC calls).' }),
      rtcAuthoriser: z
        .string()
        .max(512)
        .optional()
        .meta({ description: 'MatrixRTC authoriser (MSC4195) URL, the livekit_service_url clients are given.' }),
    })
    .optional(),
  credentialsSecret: z
    .string()
    .max(253)
    .optional()
    .meta({ description: 'Secret in the war-room namespace holding the participants’ initial passwords.' }),
  recording: z
    .object({
      events: z.int().min(0).optional().meta({ description: 'Events in the transcript so far.' }),
      headHash: z.string().regex(pattern(SHA256_HEX)).max(64).optional().meta({
        description: 'sha256 of the last transcript line; each line carries the hash of the one before.',
      }),
    })
    .optional(),
  archive: z
    .object({
      location: z.string().max(2048).optional().meta({ description: 'Where the evidence bundle was stored.' }),
      sha256: z.string().regex(pattern(SHA256_HEX)).max(64).optional(),
      verifiedAt: dateTime().optional(),
      retainUntil: dateTime().optional().meta({
        description: 'Write-once stores: until when the store refuses to delete the archive or shorten its retention.',
      }),
      legalHold: z.boolean().optional().meta({
        description: 'Write-once stores: the archive is under a legal hold (kept until released, past retainUntil).',
      }),
      timestampedAt: dateTime().optional().meta({
        description: "The RFC 3161 time of the archive's manifest.tsr (a timestamp authority vouches for it).",
      }),
    })
    .optional(),
  ttlWarningsSent: z
    .array(z.int().min(0))
    .max(16)
    .optional()
    .meta({
      description:
        'Expiry warnings already posted to #control, by lead time in milliseconds (3600000 = one hour before); ' +
        'each is sent once.',
      'x-kubernetes-list-type': 'set',
    }),
});

// ---------------------------------------------------------------------------------------------------------------
// The object

export const ObjectMeta = z.looseObject({
  name: z.string().max(253),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
});

export const IncidentChannel = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: ObjectMeta,
  spec: IncidentChannelSpec,
  status: IncidentChannelStatus.optional(),
});

/** A spec after parsing: defaults applied. */
export type IncidentChannelSpec = z.output<typeof IncidentChannelSpec>;
/** A spec as a user writes it: defaulted fields optional. */
export type IncidentChannelSpecInput = z.input<typeof IncidentChannelSpec>;
export type IncidentChannelStatus = z.output<typeof IncidentChannelStatus>;
export type IncidentChannel = z.output<typeof IncidentChannel>;
export type Condition = z.output<typeof Condition>;
export type ConditionStatus = z.output<typeof ConditionStatus>;
export type Participant = z.output<typeof Participant>;
export type ParticipantRole = z.output<typeof ParticipantRole>;
export type Severity = z.output<typeof Severity>;
export type Phase = z.output<typeof Phase>;
export type Ingress = z.output<typeof Ingress>;
export type Turn = z.output<typeof Turn>;
export type ComponentResources = z.output<typeof ComponentResources>;

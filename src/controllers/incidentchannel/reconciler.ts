import { createHash } from 'node:crypto';
import type { KubeClient } from '../../kube/client.ts';
import { isNamespaceTerminating } from '../../kube/errors.ts';
import type { EventInput } from '../../kube/events.ts';
import type { KubeObject, ObjectRef } from '../../kube/objects.ts';
import { type ChannelState, channelRef, parseChannel } from './channel.ts';
import {
  allocateRelayPorts,
  type BuildContext,
  buildContext,
  imagesWithoutDigest,
  type OperatorSettings,
} from './context-from-spec.ts';
import { turnUris } from './desired/endpoints.ts';
import { buildDesired, PRUNABLE_KINDS } from './desired/index.ts';
import { secretPlan } from './desired/secrets.ts';
import type { EvidenceHook, EvidenceOutcome } from './evidence-hook.ts';
import { decideExpiry, type ExpiryPolicy, type TeardownReason } from './expiry.ts';
import { addFinalizer, hasFinalizer, removeFinalizer } from './finalizer.ts';
import {
  ANNOTATION_CHANNEL_UID,
  ANNOTATION_FORCE_DELETE,
  LABEL_CHANNEL,
  LABEL_COMPONENT,
  LABEL_MANAGED_BY,
  labelValue,
  MANAGED_BY,
  namespaceName,
} from './names.ts';
import { observeWorkloads } from './observe.ts';
import type { RecorderClient } from './recorder-client.ts';
import type { SecretsPhase } from './secrets-phase.ts';
import { type ChannelStatus, computeStatus, type Observed, statusEquals, tornDownStatus } from './status.ts';

export interface ReconcileResult {
  requeueAfter?: number;
}

export interface ReconcileContext {
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; debug(o: object, m: string): void };
}

export interface ReconcilerDeps {
  client: KubeClient;
  /** The reflector's cache: reconcile reads state from here, never one GET per reconcile. */
  getChannel(name: string): KubeObject | undefined;
  listChannels(): KubeObject[];
  now(): Date;
  emit(channel: KubeObject, ev: EventInput): Promise<void>;
  evidence: EvidenceHook;
  /** The war room's recorder: its figures go into status, and the expiry warnings into #control through it. */
  recorder?: RecorderClient;
  /** Creates each channel Secret once (sealed, or plain with --secrets=plain); never reads one back. */
  secrets: SecretsPhase;
  expiry: ExpiryPolicy;
  settings: OperatorSettings;
  metrics: {
    teardown(reason: TeardownReason): void;
    ttlLateness(seconds: number): void;
    channelReady(secondsSinceCreation: number): void;
  };
}

const TEARDOWN_POLL_MS = 2_000;
const EVIDENCE_RETRY_MS = 30_000;
const PROVISIONING_POLL_MS = 3_000;
/** How often a live war room's transcript figures (events, head hash) are refreshed into status. */
const RECORDING_REFRESH_MS = 60_000;
/** Longer than the apiserver takes to reclaim a leaked NodePort (three repair passes, 3 min apart). */
const REFUSED_BLOCK_MS = 12 * 60_000;
const NODE_PORT_TAKEN = /provided port is already allocated/;

const recordedRelayPorts = (channel: ChannelState) =>
  (channel.status as { relayPorts?: { min: number; max: number } } | undefined)?.relayPorts;

/**
 * One IncidentChannel, top to bottom like its lifecycle (the Cluster API shape): get → deletion → finalizer →
 * validation → expiry/closure → desired state → apply → prune → observe → status → requeue at the next deadline.
 */
export class IncidentChannelReconciler {
  readonly #d: ReconcilerDeps;
  /** Fingerprint of the desired state last applied per channel, and the resourceVersions our applies produced. */
  readonly #applied = new Map<string, string>();
  readonly #ourVersions = new Map<string, string>();
  /**
   * Relay blocks the apiserver refused ("provided port is already allocated") although no Service holds them: a
   * client that died mid-request (an operator SIGKILLed while creating a Service) can leak NodePort allocations,
   * which the apiserver's repair loop frees only after several 3-minute passes. Until then, probe other blocks.
   */
  readonly #refusedRelayBlocks = new Map<number, number>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
  }

  async reconcile(name: string, rc: ReconcileContext): Promise<ReconcileResult> {
    const obj = this.#d.getChannel(name);
    if (!obj) {
      this.#applied.delete(name);
      return {};
    }
    const ref = channelRef(name);

    if (obj.metadata.deletionTimestamp) {
      if (!hasFinalizer(obj)) return {};
      const pending = await this.#teardown(obj, 'Deleted', rc);
      if (pending !== 'done') return { requeueAfter: pending };
      await removeFinalizer(this.#d.client, ref, obj);
      this.#applied.delete(name);
      this.#d.secrets.forget(obj.metadata.uid ?? '');
      rc.log.info({}, 'teardown complete; finalizer removed');
      return {};
    }

    if (!hasFinalizer(obj)) {
      await addFinalizer(this.#d.client, ref, obj);
      return {}; // the update event brings us back with the finalizer in place
    }

    const parsed = parseChannel(obj);
    if (!parsed.ok) {
      await this.#writeStatus(obj, computeStatus(obj, { stalled: parsed.error }, this.#d.now()));
      await this.#d.emit(obj, { type: 'Warning', reason: 'InvalidSpec', action: 'Validate', note: parsed.error });
      return {}; // a spec change brings us back; retrying the same spec cannot help
    }
    const channel = parsed.channel;

    if (channel.status?.phase === 'Closed' || channel.status?.phase === 'Expired') {
      return {}; // terminal: the CR stays as the record; nothing is ever rebuilt
    }

    const decision = decideExpiry(
      {
        createdAt: new Date(obj.metadata.creationTimestamp ?? this.#d.now()),
        ttlMs: channel.ttlMs,
        closed: channel.spec.closed ?? false,
        deleting: false,
        warningsSent: channel.status?.ttlWarningsSent ?? [],
      },
      this.#d.now(),
      this.#d.expiry,
    );
    if (decision.action === 'teardown') {
      const pending = await this.#teardown(obj, decision.reason, rc, decision.expiresAt);
      return pending === 'done' ? {} : { requeueAfter: pending };
    }

    const relayPorts = await this.#relayPorts(channel);
    const ctx = buildContext(channel, this.#d.settings, relayPorts);
    const observed: Observed = {
      expiresAt: decision.expiresAt,
      ttlCapped: decision.ttlCapped,
      namespace: ctx.namespace,
      imagesWithoutDigest: imagesWithoutDigest(ctx),
      endpoints: endpointsOf(ctx),
    };
    const desired = buildDesired(ctx);
    try {
      await this.#applyDesired(name, ctx, desired, rc);
      // Recorded only once the coturn Service holding these NodePorts was accepted.
      if (relayPorts) observed.relayPorts = relayPorts;
      observed.namespacePhase = await this.#namespacePhase(ctx.namespace);
      const secrets = await this.#d.secrets.ensure(ctx, secretPlan(ctx));
      observed.secrets = secrets;
      if (secrets.ok && secrets.created.length > 0) {
        await this.#d.emit(obj, {
          type: 'Normal',
          reason: 'SecretsCreated',
          action: 'Provision',
          note: `created ${secrets.created.length} secret(s) (${this.#d.settings.secretsMode ?? 'sealed'}): ${secrets.created.join(', ')}`,
        });
      }
      observed.components = await observeWorkloads(this.#d.client, desired);
      observed.recording = await this.#observeRecording(ctx, observed.components);
    } catch (err) {
      if (relayPorts && !recordedRelayPorts(channel) && NODE_PORT_TAKEN.test(describeError(err))) {
        this.#refusedRelayBlocks.set(relayPorts.min, this.#d.now().getTime() + REFUSED_BLOCK_MS);
        rc.log.warn({ relayPorts }, 'the apiserver refused this relay block; trying another one next time');
      }
      observed.applyError = describeError(err);
      await this.#writeStatus(obj, computeStatus(obj, observed, this.#d.now()));
      throw err;
    }
    if (observed.secrets && !observed.secrets.ok) {
      await this.#writeStatus(obj, computeStatus(obj, observed, this.#d.now()));
      await this.#d.emit(obj, {
        type: 'Warning',
        reason: observed.secrets.reason,
        action: 'Provision',
        note: observed.secrets.message,
      });
      return { requeueAfter: observed.secrets.retryAfterMs ?? 30_000 };
    }

    const warningsSent = [...(channel.status?.ttlWarningsSent ?? [])];
    for (const before of decision.warningsDue) {
      const note = `the war room closes in ${Math.round(before / 60_000)} min, at ${decision.expiresAt.toISOString()}`;
      await this.#d.emit(obj, { type: 'Normal', reason: 'ExpiryWarning', action: 'Warn', note });
      if (ctx.recording.enabled && this.#d.recorder) {
        // Best effort: the Event above is the record; a recorder that is down must not hold the warning back.
        await this.#d.recorder
          .notice(
            ctx.namespace,
            `⚠️ This war room closes in ${Math.round(before / 60_000)} minutes (${decision.expiresAt.toISOString()}). Export anything you need; the transcript is archived automatically.`,
          )
          .catch((err: unknown) => rc.log.warn({ err: String(err) }, 'could not post the expiry warning in #control'));
      }
      warningsSent.push(before);
    }
    observed.ttlWarningsSent = warningsSent;
    const status = computeStatus(obj, observed, this.#d.now());
    const wasReady = channel.status?.phase === 'Ready' || channel.status?.phase === 'Expiring';
    await this.#writeStatus(obj, status);
    if (!wasReady && (status.phase === 'Ready' || status.phase === 'Expiring')) {
      const created = Date.parse(obj.metadata.creationTimestamp ?? '');
      if (Number.isFinite(created)) this.#d.metrics.channelReady((this.#d.now().getTime() - created) / 1000);
      await this.#d.emit(obj, {
        type: 'Normal',
        reason: 'Ready',
        action: 'Provision',
        note: `war room ready in ${ctx.namespace}`,
      });
    }
    // Until every part is up, look again soon: workload readiness changes don't all reach us as events.
    const settling =
      status.phase === 'Provisioning'
        ? PROVISIONING_POLL_MS
        : ctx.recording.enabled && this.#d.recorder
          ? RECORDING_REFRESH_MS
          : Number.POSITIVE_INFINITY;
    return { requeueAfter: Math.min(decision.requeueAfterMs, settling) };
  }

  /** Asks the recorder for its figures once Synapse (whose pod it shares) is up; otherwise the last figures stand. */
  async #observeRecording(ctx: BuildContext, components: Observed['components']): Promise<Observed['recording']> {
    if (!ctx.recording.enabled) return { enabled: false };
    const synapseUp = components?.some((c) => c.type === 'SynapseReady' && c.status === 'True');
    if (!this.#d.recorder || !synapseUp) return undefined;
    try {
      const s = await this.#d.recorder.status(ctx.namespace);
      return { enabled: true, reachable: true, ready: s.ready, events: s.events, headHash: s.headHash };
    } catch (err) {
      return { enabled: true, reachable: false, message: describeError(err) };
    }
  }

  /**
   * The relay block of a channel whose spec names none. NodePorts are cluster-wide, and the coturn Services that hold
   * them are the truth: the block recorded in status (written only once its Service was accepted), else the block this
   * channel's own Service already holds (a crash before the status write), else a block no live coturn Service and no
   * other channel's record covers. Two
   * channels picking one free block at once: the apiserver refuses the second Service, which retries and moves on.
   */
  async #relayPorts(channel: ChannelState): Promise<{ min: number; max: number } | undefined> {
    if (channel.spec.calls?.enabled === false || channel.spec.calls?.turn?.relayPorts) return undefined;
    // Checked first so a settled channel never lists every coturn Service in the cluster on its reconciles.
    const recorded = recordedRelayPorts(channel);
    if (recorded) return recorded;
    const namespace = namespaceName(channel.spec.caseId, channel.uid, this.#d.settings.namespacePrefix);
    const services = await this.#d.client.list<KubeObject & { spec?: { ports?: { nodePort?: number }[] } }>(
      'v1',
      'Service',
      { labelSelector: `${LABEL_COMPONENT}=coturn,${LABEL_MANAGED_BY}=${MANAGED_BY}` },
    );
    const held = (svc: (typeof services)[number]) => {
      const ports = (svc.spec?.ports ?? []).map((p) => p.nodePort).filter((p): p is number => p !== undefined);
      return ports.length > 0 ? { min: Math.min(...ports), max: Math.max(...ports) } : undefined;
    };
    const own = services.find((svc) => svc.metadata.namespace === namespace);
    const ownBlock = own ? held(own) : undefined;
    if (ownBlock) return ownBlock;
    const taken: { min: number; max: number }[] = [];
    for (const svc of services) {
      const block = held(svc);
      if (block) taken.push(block);
    }
    for (const other of this.#d.listChannels()) {
      if (other.metadata.uid === channel.uid) continue;
      const o = other as {
        spec?: { calls?: { turn?: { relayPorts?: { min: number; max: number } } } };
        status?: { phase?: string; relayPorts?: { min: number; max: number } };
      };
      if (o.status?.phase === 'Closed' || o.status?.phase === 'Expired') continue;
      const block = o.status?.relayPorts ?? o.spec?.calls?.turn?.relayPorts;
      if (block) taken.push(block);
    }
    const now = this.#d.now().getTime();
    for (const [min, until] of this.#refusedRelayBlocks) {
      if (until <= now) this.#refusedRelayBlocks.delete(min);
      else taken.push({ min, max: min });
    }
    return allocateRelayPorts(channel.uid, taken);
  }

  /** A child we labelled changed: unless it is the echo of our own apply, the next reconcile must re-apply. */
  noteChildEvent(child: KubeObject, deleted: boolean): string | undefined {
    const channel = child.metadata.labels?.[LABEL_CHANNEL];
    if (!channel) return undefined;
    const key = objectKey(child);
    if (!deleted && this.#ourVersions.get(key) === child.metadata.resourceVersion) return undefined;
    this.#ourVersions.delete(key);
    for (const name of this.#applied.keys()) {
      if (labelValue(name) === channel) {
        this.#applied.delete(name);
        return name;
      }
    }
    return undefined;
  }

  async #applyDesired(name: string, ctx: BuildContext, desired: KubeObject[], rc: ReconcileContext): Promise<void> {
    const fingerprint = createHash('sha256').update(JSON.stringify(desired)).digest('hex');
    if (this.#applied.get(name) === fingerprint) return; // idle resync: nothing changed, nothing drifted
    // Stages keep the guarantees that matter (the namespace exists, then every NetworkPolicy is in place before any
    // workload, and the provisioning Job comes last); within a stage the applies run in parallel.
    for (const stage of applyStages(desired)) {
      await Promise.all(
        stage.map(async (obj) => {
          try {
            const live = await this.#d.client.apply<KubeObject>(obj);
            this.#ourVersions.set(objectKey(obj), live.metadata.resourceVersion ?? '');
          } catch (err) {
            if (isNamespaceTerminating(err)) {
              throw new Error(`namespace ${ctx.namespace} is terminating; waiting for it to go`);
            }
            throw err;
          }
        }),
      );
    }
    await this.#prune(ctx, desired, rc);
    this.#applied.set(name, fingerprint);
  }

  /** Deletes what we labelled for this channel but no longer build (e.g. the Postgres policy after a switch). */
  async #prune(ctx: BuildContext, desired: KubeObject[], rc: ReconcileContext): Promise<void> {
    const wanted = new Set(desired.map(objectKey));
    await Promise.all(
      PRUNABLE_KINDS.map(async ({ apiVersion, kind }) => {
        const live = await this.#d.client.list(apiVersion, kind, {
          namespace: ctx.namespace,
          labelSelector: `${LABEL_CHANNEL}=${labelValue(ctx.channel.name)}`,
        });
        for (const obj of live) {
          if (wanted.has(objectKey(obj))) continue;
          rc.log.info({ kind, object: obj.metadata.name }, 'pruning an object that is no longer desired');
          await this.#d.client.delete({ apiVersion, kind, namespace: ctx.namespace, name: obj.metadata.name });
        }
      }),
    );
  }

  async #namespacePhase(namespace: string): Promise<string | undefined> {
    const ns = await this.#d.client.get<KubeObject & { status?: { phase?: string } }>({
      apiVersion: 'v1',
      kind: 'Namespace',
      name: namespace,
    });
    return ns?.status?.phase;
  }

  /**
   * Export and verify the evidence, THEN delete the namespace, then record the terminal phase. Returns 'done' when the
   * namespace is gone (or never existed), else when to look again.
   */
  async #teardown(
    obj: KubeObject,
    reason: TeardownReason,
    rc: ReconcileContext,
    expiresAt?: Date,
  ): Promise<'done' | number> {
    const state = (obj as { status?: ChannelState['status'] }).status;
    const caseId = (obj as { spec?: { caseId?: unknown } }).spec?.caseId;
    const namespace =
      state?.namespace ??
      (typeof caseId === 'string' && obj.metadata.uid ? namespaceName(caseId, obj.metadata.uid) : undefined);
    const nsRef: ObjectRef = { apiVersion: 'v1', kind: 'Namespace', name: namespace ?? '' };
    const ns = namespace ? await this.#d.client.get(nsRef) : undefined;
    const ours = ns && ns.metadata.annotations?.[ANNOTATION_CHANNEL_UID] === obj.metadata.uid;

    if (ours && !ns.metadata.deletionTimestamp) {
      if (reason !== 'Deleted' && !state?.archive && state?.phase !== 'Archiving') {
        // Sealing and exporting a long transcript takes a while: say what is happening before doing it.
        await this.#writeStatus(obj, tornDownStatus(obj, { phase: 'Archiving', reason }, this.#d.now()));
      }
      const stored = state?.archive;
      const evidence: EvidenceOutcome =
        stored?.location && stored.sha256 && stored.verifiedAt
          ? {
              kind: 'archived',
              archive: { location: stored.location, sha256: stored.sha256, verifiedAt: stored.verifiedAt },
            }
          : await this.#d.evidence.export(obj, namespace ?? '');
      const forced = obj.metadata.annotations?.[ANNOTATION_FORCE_DELETE] === 'true';
      if (evidence.kind === 'failed' && !forced) {
        rc.log.warn({ reason: evidence.reason }, 'evidence could not be verified; keeping the namespace');
        if (reason !== 'Deleted') {
          await this.#writeStatus(obj, tornDownStatus(obj, { phase: 'Archiving', reason, evidence }, this.#d.now()));
        }
        await this.#d.emit(obj, {
          type: 'Warning',
          reason: 'EvidenceNotArchived',
          action: 'Archive',
          note: evidence.message,
        });
        return EVIDENCE_RETRY_MS; // each attempt asks the recorder to seal again: not every 2 s
      }
      if (reason !== 'Deleted') {
        await this.#writeStatus(obj, tornDownStatus(obj, { phase: 'Archiving', reason, evidence }, this.#d.now()));
      }
      await this.#d.client.delete(nsRef, { uid: ns.metadata.uid });
      if (expiresAt && reason === 'TTLExpired') {
        this.#d.metrics.ttlLateness(Math.max(0, (this.#d.now().getTime() - expiresAt.getTime()) / 1000));
      }
      this.#d.metrics.teardown(reason);
      rc.log.info({ namespace, reason }, 'namespace delete requested');
      await this.#d.emit(obj, {
        type: 'Normal',
        reason: 'NamespaceDeleted',
        action: 'Teardown',
        note: `${teardownWhy(reason)}: deleting namespace ${namespace}`,
      });
      return TEARDOWN_POLL_MS;
    }
    if (ours) return TEARDOWN_POLL_MS; // terminating: the namespace controller is still removing its contents

    if (reason !== 'Deleted') {
      await this.#writeStatus(
        obj,
        tornDownStatus(obj, { phase: reason === 'CaseClosed' ? 'Closed' : 'Expired', reason }, this.#d.now()),
      );
      await this.#d.emit(obj, {
        type: 'Normal',
        reason: reason,
        action: 'Teardown',
        note: `${teardownWhy(reason)}; namespace gone`,
      });
    }
    this.#applied.delete(obj.metadata.name);
    return 'done';
  }

  async #writeStatus(obj: KubeObject, status: ChannelStatus): Promise<void> {
    const current = (obj as { status?: ChannelStatus }).status;
    if (current && statusEquals(current, status)) return; // an idle resync writes nothing
    await this.#d.client.applyStatus(channelRef(obj.metadata.name), status);
  }
}

const STAGE_OF_KIND: Record<string, number> = { Namespace: 0, NetworkPolicy: 1, Job: 3 };

/** Groups the ordered desired objects into stages applied one after another (see #applyDesired). */
export function applyStages(desired: KubeObject[]): KubeObject[][] {
  const stages: KubeObject[][] = [[], [], [], []];
  for (const o of desired) stages[STAGE_OF_KIND[o.kind] ?? 2]?.push(o);
  return stages.filter((s) => s.length > 0);
}

const objectKey = (o: KubeObject) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function teardownWhy(reason: TeardownReason): string {
  return {
    Deleted: 'the IncidentChannel was deleted',
    CaseClosed: 'the case was closed',
    TTLExpired: 'the TTL ran out',
  }[reason];
}

function endpointsOf(ctx: BuildContext): Observed['endpoints'] {
  const turn = turnUris(ctx);
  return {
    ...(ctx.elementUrl ? { element: ctx.elementUrl } : {}),
    homeserver: ctx.publicBaseUrl,
    ...(turn.length > 0 ? { turn } : {}),
  };
}

function describeError(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 1000);
}

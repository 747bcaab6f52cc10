import { createHash } from 'node:crypto';
import { type Cond, type ConditionType, cond, setCondition } from '../../api/v1alpha1/conditions.ts';
import type { EventInput } from '../../kube/events.ts';
import { type KubeObject, refOf } from '../../kube/objects.ts';
import { ChildRejectedError, describeError, isPermanentRejection } from './apply-errors.ts';
import { type Channel, type ChannelState, channelState, isTerminal } from './channel.ts';
import type { Applied, ChannelCluster } from './cluster.ts';
import {
  type BuildContext,
  buildContext,
  type OperatorSettings,
  RelayPortsExhaustedError,
} from './context-from-spec.ts';
import { turnUris } from './desired/endpoints.ts';
import { buildDesired, PRUNABLE_KINDS } from './desired/index.ts';
import type { EvidenceHook } from './evidence-hook.ts';
import { decideExpiry, type ExpiryPolicy, type TeardownReason } from './expiry.ts';
import { addFinalizer, hasFinalizer, removeFinalizer, withFinalizer } from './finalizer.ts';
import { LABEL_COMPONENT, labelValue } from './names.ts';
import { LIVE_PHASES, type PhaseDeps, type Scope } from './phases.ts';
import type { RecorderClient } from './recorder-client.ts';
import { RelayPortAllocator, RelayPortsTakenError } from './relay-ports.ts';
import type { SecretsEnsurer } from './secrets-phase.ts';
import { type ChannelStatus, checkStatus, type LiveOutcome, liveStatus, statusEquals } from './status.ts';
import { channelNamespace, tearDown } from './teardown.ts';

export interface ReconcileResult {
  requeueAfter?: number;
}

export interface ReconcileContext {
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; debug(o: object, m: string): void };
  /** Aborted at the stop deadline: handed to every request this reconcile makes. */
  signal: AbortSignal;
}

export interface ReconcilerDeps {
  /** Writes to the apiserver; reads from the watch caches. */
  cluster: ChannelCluster;
  now(): Date;
  emit(channel: Channel, ev: EventInput, signal?: AbortSignal): Promise<void>;
  evidence: EvidenceHook;
  /** The war room's recorder: its figures go into status, and the expiry warnings into #control through it. */
  recorder?: RecorderClient;
  /** Creates each channel Secret once (sealed, or plain with --secrets=plain); never reads one back. */
  secrets: SecretsEnsurer;
  expiry: ExpiryPolicy;
  settings: OperatorSettings;
  metrics: {
    teardown(reason: TeardownReason): void;
    ttlLateness(seconds: number): void;
    channelReady(secondsSinceCreation: number): void;
  };
}

/** A transient error older than this is said in Reconciling's message (before that it is just retried). */
const RETRY_VISIBLE_AFTER_MS = 60_000;
/** A stalled channel looks again after 30 s, 1 min, 2 min, … at most every 15 min, unless its spec changes first. */
const STALL_BACKOFF_MS = { first: 30_000, max: 15 * 60_000 };
/** A duplicate waits for the live channel of its case to close; nothing about it changes until then. */
const DUPLICATE_RECHECK_MS = 60_000;

/** Kinds whose events only tell about readiness: never applied by us, so never "drift". */
const OBSERVED_ONLY = new Set(['Pod']);
/** Kinds whose controllers write status: a change with the generation we applied is a status change, not drift. */
const WITH_STATUS = new Set(['StatefulSet', 'Deployment', 'Job']);

/**
 * One IncidentChannel, top to bottom like its lifecycle (the Cluster API shape): get → deletion (teardown) →
 * finalizer → spec and case checks → expiry/closure → a scope → the live phases in order (namespace, policies,
 * secrets, workloads, provisioning, recording, expiry warnings), each stating its condition → ONE status write, only
 * when it changed → requeue at the next real deadline. Everything it observes comes from the watch caches, so a
 * settled channel's reconcile makes no request.
 */
export class IncidentChannelReconciler {
  readonly #d: ReconcilerDeps;
  /** Fingerprint of the desired state last applied in full per channel, and what our applies left on each object. */
  readonly #applied = new Map<string, string>();
  readonly #ours = new Map<string, Applied>();
  /** Channel names by their label value (long names are hashed into labels), to route child events back. */
  readonly #nameOfLabel = new Map<string, string>();
  readonly #relay: RelayPortAllocator;
  readonly #failingSince = new Map<string, number>();
  /** Each stalled channel's stall, as last said, and when its backoff ends. */
  readonly #stalls = new Map<
    string,
    { generation: number | undefined; reason: string; message: string; attempts: number; until: number }
  >();
  /** Channels stalled for want of a free relay block: woken when one may have been freed (mayFreeRelayBlock). */
  readonly #awaitingRelayPorts = new Set<string>();
  /** Channels whose namespace delete this process sent (see TeardownDeps.deleteSent). */
  readonly #namespaceDeletesSent = new Map<string, string>();
  /**
   * The last build of the desired state of each channel still coming up. Building it (the Synapse configuration
   * rendered as YAML, ~7 ms of CPU) and hashing it were most of a reconcile's CPU, and a channel coming up is woken
   * by dozens of child events; its inputs (name, uid, spec, relay ports; the settings are fixed) rarely change in
   * that time. Dropped once the channel is Ready or stops, so a settled fleet holds none of these (~50 KiB each).
   */
  readonly #builds = new Map<
    string,
    { inputs: string; ctx: BuildContext; desired: KubeObject[]; fingerprint: string }
  >();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#relay = new RelayPortAllocator(deps.settings.relayPortRange);
  }

  async reconcile(name: string, rc: ReconcileContext): Promise<ReconcileResult> {
    let channel = this.#d.cluster.channel(name);
    if (!channel) {
      this.#forget(name);
      return {};
    }
    this.#nameOfLabel.set(labelValue(name), name);

    if (channel.metadata.deletionTimestamp) {
      if (!hasFinalizer(channel)) return {};
      this.#stalls.delete(name); // torn down now: its children's events matter again
      const pending = await tearDown(this.#teardownDeps(rc), channel, 'Deleted', rc.signal);
      if (pending !== 'done') return { requeueAfter: pending };
      await removeFinalizer(this.#d.cluster, channel, rc.signal);
      this.#d.secrets.forget(channel.metadata.uid ?? '');
      this.#forget(name);
      rc.log.info({}, 'teardown complete; finalizer removed');
      return {};
    }

    if (!hasFinalizer(channel)) {
      await addFinalizer(this.#d.cluster, channel, rc.signal);
      // On in the same pass: waiting for the update's echo sent a new channel through the watch and to the back of
      // the queue (behind every other new channel in a burst) before anything of its war room was applied.
      channel = withFinalizer(channel);
    }

    if (isTerminal(channel.status)) return {}; // the CR stays as the record; nothing is ever rebuilt

    try {
      const result = await this.#reconcileLive(channel, rc);
      this.#failingSince.delete(name);
      return result;
    } catch (err) {
      await this.#sayRetrying(channel, err, rc);
      throw err; // the controller retries with backoff
    }
  }

  async #reconcileLive(channel: Channel, rc: ReconcileContext): Promise<ReconcileResult> {
    const state = channelState(channel);
    if (!state) {
      const message = channel.parsed.ok ? '' : channel.parsed.error;
      return this.#stalled(channel, cond('Stalled', 'True', 'InvalidSpec', message), rc, 'Validate', {});
    }

    const other = this.#liveChannelOfSameCase(channel, state);
    if (other) {
      const message = `caseId "${state.spec.caseId}" already has a live war room: IncidentChannel ${other}; close it (spec.closed: true) or fix caseId`;
      const result = await this.#stalled(
        channel,
        cond('Stalled', 'True', 'DuplicateCaseId', message),
        rc,
        'Validate',
        {},
      );
      return { requeueAfter: Math.min(result.requeueAfter ?? DUPLICATE_RECHECK_MS, DUPLICATE_RECHECK_MS) };
    }

    const now = this.#d.now();
    const decision = decideExpiry(
      {
        createdAt: new Date(channel.metadata.creationTimestamp ?? now),
        ttlMs: state.ttlMs,
        closed: state.spec.closed,
        deleting: false,
        warningsSent: channel.status?.ttlWarningsSent ?? [],
      },
      now,
      this.#d.expiry,
    );
    if (decision.action === 'teardown') {
      this.#stalls.delete(channel.metadata.name);
      const pending = await tearDown(this.#teardownDeps(rc), channel, decision.reason, rc.signal, decision.expiresAt);
      if (pending === 'done') this.#forget(channel.metadata.name);
      return pending === 'done' ? {} : { requeueAfter: pending };
    }

    let scope: Scope;
    try {
      scope = this.#scope(channel, state, decision, rc);
    } catch (err) {
      if (!(err instanceof RelayPortsExhaustedError || err instanceof RelayPortsTakenError)) throw err;
      // Either way a war room closing may free the ports: mayFreeRelayBlock wakes these channels.
      this.#awaitingRelayPorts.add(channel.metadata.name);
      const reason = err instanceof RelayPortsTakenError ? 'RelayPortsTaken' : 'RelayPortsExhausted';
      return this.#stalled(channel, cond('Stalled', 'True', reason, err.message), rc, 'Provision', {});
    }
    this.#awaitingRelayPorts.delete(channel.metadata.name);
    let requeueAfter = decision.requeueAfterMs;
    const deps = this.#phaseDeps(channel, rc);
    try {
      for (const phase of LIVE_PHASES) {
        const result = await phase(scope, deps);
        scope.outcome.parts.push(...result.conditions);
        if (result.requeueAfterMs !== undefined) requeueAfter = Math.min(requeueAfter, result.requeueAfterMs);
        if (result.stop) {
          scope.outcome.actedOnGeneration = false;
          if (
            result.conditions.some((c) => c.reason === 'SealedSecretsUnavailable' || c.reason === 'ProvisioningFailed')
          ) {
            const blocker = result.conditions.find((c) => c.status === 'False');
            scope.outcome.stalled = cond(
              'Stalled',
              'True',
              blocker?.reason === 'ProvisioningFailed' ? 'ProvisioningFailed' : 'SealedSecretsUnavailable',
              blocker?.message ?? '',
            );
          }
          break;
        }
      }
      if (scope.outcome.actedOnGeneration) await this.#prune(scope, rc);
    } catch (err) {
      if (!(err instanceof ChildRejectedError)) throw err;
      scope.outcome.actedOnGeneration = false;
      scope.outcome.stalled = cond('Stalled', 'True', 'ChildRejected', err.message);
    }

    if (scope.outcome.stalled) {
      this.#builds.delete(channel.metadata.name);
      return this.#stalled(channel, scope.outcome.stalled, rc, 'Provision', scope.outcome);
    }
    this.#stalls.delete(channel.metadata.name);

    const status = liveStatus(channel, scope.outcome, this.#d.now());
    const wasReady = channel.status?.phase === 'Ready' || channel.status?.phase === 'Expiring';
    if (status.phase !== 'Provisioning') this.#builds.delete(channel.metadata.name);
    await this.#writeStatus(channel, status, rc.signal);
    if (!wasReady && (status.phase === 'Ready' || status.phase === 'Expiring')) {
      const created = Date.parse(channel.metadata.creationTimestamp ?? '');
      if (Number.isFinite(created)) this.#d.metrics.channelReady((this.#d.now().getTime() - created) / 1000);
      await this.#d.emit(
        channel,
        { type: 'Normal', reason: 'Ready', action: 'Provision', note: `war room ready in ${scope.ctx.namespace}` },
        rc.signal,
      );
    }
    // No polling: changes of the workloads and pods wake this channel through the watch caches.
    return Number.isFinite(requeueAfter) ? { requeueAfter } : {};
  }

  /** Builds the scope: relay ports, build context, desired objects, and the apply step that skips what is settled. */
  #scope(channel: Channel, state: ChannelState, decision: Scope['decision'], rc: ReconcileContext): Scope {
    const prefix = this.#d.settings.namespacePrefix;
    const namespace = channelNamespace(channel, prefix) ?? '';
    const nowMs = this.#d.now().getTime();
    const relayPorts = this.#relay.blockFor(state, namespace, this.#d.cluster, nowMs);
    const name = channel.metadata.name;
    const { ctx, desired, fingerprint } = this.#build(state, relayPorts);
    const settled = this.#applied.get(name) === fingerprint;
    const turn = turnUris(ctx);
    // What runs decides what must be up (every component has a ServiceAccount, running or not).
    const workloads = desired.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
    const components = new Set(workloads.map((o) => o.metadata.labels?.[LABEL_COMPONENT]));
    const required: ConditionType[] = ['NamespaceReady', 'SecretsSealed', 'SynapseReady', 'ElementReady'];
    if (components.has('coturn')) required.push('TurnReady');
    if (components.has('livekit')) required.push('CallsReady');
    required.push('UsersProvisioned');
    const outcome: LiveOutcome = {
      parts: [],
      required,
      fields: {
        namespace: ctx.namespace,
        expiresAt: decision.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        endpoints: {
          ...(ctx.elementUrl ? { element: ctx.elementUrl } : {}),
          homeserver: ctx.publicBaseUrl,
          ...(turn.length > 0 ? { turn } : {}),
          ...(ctx.calls.enabled && ctx.calls.sfu
            ? { sfu: ctx.calls.sfu.sfuUrl, rtcAuthoriser: ctx.calls.sfu.authoriserUrl }
            : {}),
        },
      },
      // The recorder is asked only once Synapse is up: until then its last word stands.
      keep: ['Recording'],
      actedOnGeneration: true,
      readyMessage: `war room ready in ${ctx.namespace}; expires ${decision.expiresAt.toISOString()}${decision.ttlCapped ? ' (ttl capped by the operator --max-ttl)' : ''}`,
      warned: false,
    };
    const apply = async (objs: KubeObject[]): Promise<Map<string, Applied>> => {
      const results = new Map<string, Applied>();
      if (settled || objs.length === 0) return results;
      await Promise.all(
        objs.map(async (obj) => {
          try {
            const applied = await this.#d.cluster.apply(obj, rc.signal);
            this.#ours.set(objectKey(obj), applied);
            results.set(obj.metadata.name, applied);
          } catch (err) {
            if (relayPorts && !state.status?.relayPorts && obj.kind === 'Service') {
              if (this.#relay.noteRefusal(relayPorts, describeError(err), this.#d.now().getTime())) {
                rc.log.warn({ relayPorts }, 'the apiserver refused this relay block; trying another one next time');
                throw err; // transient for this channel: the next pass picks another block
              }
            }
            if (isPermanentRejection(err)) throw new ChildRejectedError(obj, err);
            throw err;
          }
        }),
      );
      // Recorded only once the coturn Service holding these NodePorts was accepted.
      if (relayPorts && objs.some((o) => o.kind === 'Service' && o.metadata.labels?.[LABEL_COMPONENT] === 'coturn')) {
        outcome.fields.relayPorts = relayPorts;
      }
      return results;
    };
    if (relayPorts && state.status?.relayPorts) outcome.fields.relayPorts = relayPorts;
    if (relayPorts && settled) outcome.fields.relayPorts = relayPorts;
    return { channel: state, ctx, desired, fingerprint, decision, signal: rc.signal, apply, outcome };
  }

  #build(state: ChannelState, relayPorts: ReturnType<RelayPortAllocator['blockFor']>) {
    const inputs = JSON.stringify([state.name, state.uid, state.spec, relayPorts ?? null]);
    const last = this.#builds.get(state.name);
    if (last?.inputs === inputs) return last;
    const ctx = buildContext(state, this.#d.settings, relayPorts);
    const desired = buildDesired(ctx);
    const fingerprint = createHash('sha256').update(JSON.stringify(desired)).digest('hex');
    const built = { inputs, ctx, desired, fingerprint };
    this.#builds.set(state.name, built);
    return built;
  }

  /** Deletes what we labelled for this channel but no longer build (e.g. the Postgres policy after a switch). */
  async #prune(scope: Scope, rc: ReconcileContext): Promise<void> {
    const name = scope.ctx.channel.name;
    if (this.#applied.get(name) === scope.fingerprint) return;
    const wanted = new Set(scope.desired.map(objectKey));
    const prunable = new Set(PRUNABLE_KINDS.map((k) => `${k.apiVersion}/${k.kind}`));
    for (const obj of this.#d.cluster.labelled(scope.ctx.namespace, labelValue(name))) {
      if (!prunable.has(`${obj.apiVersion}/${obj.kind}`) || wanted.has(objectKey(obj))) continue;
      rc.log.info({ kind: obj.kind, object: obj.metadata.name }, 'pruning an object that is no longer desired');
      await this.#d.cluster.delete(refOf(obj), {}, rc.signal);
    }
    this.#applied.set(name, scope.fingerprint);
  }

  /**
   * A human must act. Status says why (naming the field or the child), a Warning event too, and the channel looks
   * again with exponential backoff instead of a hot loop; a spec change wakes it at once.
   */
  async #stalled(
    channel: Channel,
    stalled: Cond<'Stalled'>,
    rc: ReconcileContext,
    action: string,
    partial: Partial<LiveOutcome>,
  ): Promise<ReconcileResult> {
    const outcome: LiveOutcome = {
      parts: partial.parts ?? [],
      required: [],
      fields: partial.fields ?? {},
      keep: [
        'Recording',
        'NamespaceReady',
        'SecretsSealed',
        'SynapseReady',
        'ElementReady',
        'TurnReady',
        'CallsReady',
        'UsersProvisioned',
        'ImagesPinned',
      ],
      actedOnGeneration: false,
      readyMessage: '',
      warned: partial.warned ?? false,
      stalled,
    };
    await this.#writeStatus(channel, liveStatus(channel, outcome, this.#d.now()), rc.signal);
    const name = channel.metadata.name;
    const now = this.#d.now().getTime();
    const prev = this.#stalls.get(name);
    const sameGeneration = prev !== undefined && prev.generation === channel.metadata.generation;
    if (sameGeneration && prev.reason === stalled.reason && prev.message === stalled.message && now < prev.until) {
      // Woken inside its backoff (by the echoes of the very pass that stalled it, a child's status): nothing new to
      // say, and the backoff keeps its end.
      return { requeueAfter: prev.until - now };
    }
    await this.#d.emit(channel, { type: 'Warning', reason: stalled.reason, action, note: stalled.message }, rc.signal);
    rc.log.warn({ reason: stalled.reason }, stalled.message);
    const attempts = sameGeneration ? prev.attempts + 1 : 0;
    const delay = Math.min(STALL_BACKOFF_MS.first * 2 ** attempts, STALL_BACKOFF_MS.max);
    this.#stalls.set(name, {
      generation: channel.metadata.generation,
      reason: stalled.reason,
      message: stalled.message,
      attempts,
      until: now + delay,
    });
    return { requeueAfter: delay };
  }

  /** A transient error that has lasted over a minute shows in Reconciling's message; the phase stays as it was. */
  async #sayRetrying(channel: Channel, err: unknown, rc: ReconcileContext): Promise<void> {
    const name = channel.metadata.name;
    const now = this.#d.now();
    const since = this.#failingSince.get(name) ?? now.getTime();
    this.#failingSince.set(name, since);
    if (now.getTime() - since < RETRY_VISIBLE_AFTER_MS || !channel.status?.phase) return;
    const message = `retrying since ${new Date(since).toISOString()}: ${describeError(err)}`;
    const retrying = cond('Reconciling', 'True', 'RetryingAfterError', message);
    const generation = channel.metadata.generation;
    const conditions = setCondition(
      channel.status.conditions ?? [],
      { ...retrying, ...(generation !== undefined ? { observedGeneration: generation } : {}) },
      now,
    );
    const status: ChannelStatus = { ...channel.status, phase: channel.status.phase, conditions };
    await this.#writeStatus(channel, status, rc.signal).catch((e: unknown) =>
      rc.log.warn({ err: describeError(e) }, 'could not say so in status either'),
    );
  }

  /** Another live (not closed, not being deleted) channel with the same case: the older one keeps the war room. */
  #liveChannelOfSameCase(channel: Channel, state: ChannelState): string | undefined {
    const caseKey = state.spec.caseId.toLowerCase();
    const mine = olderFirst(channel);
    for (const other of this.#d.cluster.channels()) {
      if (other.metadata.uid === channel.metadata.uid || !other.parsed.ok) continue;
      if (other.parsed.spec.caseId.toLowerCase() !== caseKey) continue;
      if (other.metadata.deletionTimestamp || other.parsed.spec.closed || isTerminal(other.status)) continue;
      if (olderFirst(other) < mine) return other.metadata.name;
    }
    return undefined;
  }

  async #writeStatus(channel: Channel, status: ChannelStatus, signal: AbortSignal): Promise<void> {
    if (statusEquals(channel.status, status)) return; // an idle resync writes nothing
    await this.#d.cluster.applyStatus(channel.metadata.name, checkStatus(status), signal);
  }

  #phaseDeps(channel: Channel, rc: ReconcileContext): PhaseDeps {
    return {
      cluster: this.#d.cluster,
      secrets: this.#d.secrets,
      ...(this.#d.recorder ? { recorder: this.#d.recorder } : {}),
      emitNormal: (reason, action, note) => this.#d.emit(channel, { type: 'Normal', reason, action, note }, rc.signal),
      emitWarning: (reason, action, note) =>
        this.#d.emit(channel, { type: 'Warning', reason, action, note }, rc.signal),
      log: rc.log,
    };
  }

  #teardownDeps(rc: ReconcileContext) {
    return {
      cluster: this.#d.cluster,
      evidence: this.#d.evidence,
      namespacePrefix: this.#d.settings.namespacePrefix,
      now: () => this.#d.now(),
      emit: (c: Channel, ev: EventInput) => this.#d.emit(c, ev, rc.signal),
      writeStatus: (c: Channel, s: ChannelStatus, signal: AbortSignal) => this.#writeStatus(c, s, signal),
      metrics: this.#d.metrics,
      deleteSent: this.#namespaceDeletesSent,
      log: rc.log,
    };
  }

  /** The channels to wake when a relay block may have been freed. */
  awaitingRelayPorts(): string[] {
    return [...this.#awaitingRelayPorts];
  }

  #forget(name: string): void {
    this.#awaitingRelayPorts.delete(name);
    this.#namespaceDeletesSent.delete(name);
    this.#builds.delete(name);
    this.#applied.delete(name);
    this.#failingSince.delete(name);
    this.#stalls.delete(name);
  }

  /**
   * A child changed in the watch caches: returns the channel to reconcile. Our own apply's echo and a status change
   * (same generation as we applied) only wake it to read readiness, and not at all while it is stalled (a human must
   * act; its backoff says when to look again, not the echoes of the pass that stalled it); anything else is drift, so
   * the next reconcile applies again.
   */
  noteChildEvent(child: KubeObject, deleted: boolean): string | undefined {
    const label = child.metadata.labels?.['warroom.dev/channel'];
    const name = label === undefined ? undefined : this.#nameOfLabel.get(label);
    if (name === undefined) return undefined;
    if (OBSERVED_ONLY.has(child.kind)) return name;
    const key = objectKey(child);
    const ours = this.#ours.get(key);
    const echo = ours?.resourceVersion === child.metadata.resourceVersion;
    const statusOnly = WITH_STATUS.has(child.kind) && ours?.generation === child.metadata.generation;
    if (deleted || !(echo || statusOnly)) {
      this.#ours.delete(key);
      this.#applied.delete(name);
      return name;
    }
    return this.#stalls.has(name) ? undefined : name;
  }
}

/** Creation time, then name: a stable order in which the first live channel of a case wins. */
const olderFirst = (c: Channel) => `${c.metadata.creationTimestamp ?? ''}/${c.metadata.name}`;

const objectKey = (o: KubeObject) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

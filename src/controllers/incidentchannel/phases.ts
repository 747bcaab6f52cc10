// The phases of a live channel, in lifecycle order. Each one acts (applies its objects, creates secrets, asks the
// recorder), then states its condition from the watch caches; none writes status. The reconciler runs them in order
// and writes status once at the end. A phase that cannot go on says why (`stop`), and later phases do not run.
import { type Cond, cond } from '../../api/v1alpha1/conditions.ts';
import type { KubeObject } from '../../kube/objects.ts';
import type { ChannelState } from './channel.ts';
import type { Applied, ChannelCluster } from './cluster.ts';
import type { BuildContext } from './context-from-spec.ts';
import { imagesWithoutDigest } from './context-from-spec.ts';
import { secretPlan } from './desired/secrets.ts';
import type { ExpiryDecision } from './expiry.ts';
import { observeWorkloads } from './observe.ts';
import type { RecorderClient } from './recorder-client.ts';
import type { SecretsEnsurer } from './secrets-phase.ts';
import type { LiveOutcome } from './status.ts';

/** What one reconcile of a live channel works on (Cluster API's scope): the channel, its build context, its objects. */
export interface Scope {
  channel: ChannelState;
  ctx: BuildContext;
  desired: KubeObject[];
  /** sha256 of `desired`: equal to the last one applied in full means nothing needs applying or pruning. */
  fingerprint: string;
  decision: Extract<ExpiryDecision, { action: 'keep' }>;
  signal: AbortSignal;
  /**
   * Applies objects (skipped when the desired state is unchanged and nothing drifted since the last apply); returns
   * what each apply returned, by name, for the ones applied this time.
   */
  apply(objs: KubeObject[]): Promise<Map<string, Applied>>;
  outcome: LiveOutcome;
}

export interface PhaseDeps {
  cluster: ChannelCluster;
  secrets: SecretsEnsurer;
  recorder?: RecorderClient;
  emitNormal(reason: string, action: string, note: string): Promise<void>;
  emitWarning(reason: string, action: string, note: string): Promise<void>;
  log: { warn(o: object, m: string): void };
}

export interface PhaseResult {
  conditions: Cond[];
  /** Later phases cannot run: a condition above says why. */
  stop?: boolean;
  /** This phase needs another pass before this long (the recorder refresh, a sealing controller back online). */
  requeueAfterMs?: number;
}

export type PhaseFn = (s: Scope, d: PhaseDeps) => Promise<PhaseResult>;

const ofKind = (desired: KubeObject[], kinds: readonly string[]) => desired.filter((o) => kinds.includes(o.kind));
const LATE_KINDS = ['Namespace', 'NetworkPolicy', 'Job'];
/** The kinds that run the war room's pods: applied only once every policy and Secret is in place. */
const POD_KINDS = ['StatefulSet', 'Deployment'];

/** The namespace, PSA restricted, owned by the channel. */
export const namespacePhase: PhaseFn = async (s, d) => {
  const applied = await s.apply(ofKind(s.desired, ['Namespace']));
  const ns = d.cluster.namespace(s.ctx.namespace);
  // Just created: the apply's answer says Active before the watch cache has caught up.
  const phase = ns?.state.phase ?? applied.get(s.ctx.namespace)?.phase;
  const c =
    phase === 'Active' && !ns?.metadata.deletionTimestamp
      ? cond('NamespaceReady', 'True', 'Active', `namespace ${s.ctx.namespace} is active`)
      : phase
        ? cond('NamespaceReady', 'False', 'Terminating', `namespace ${s.ctx.namespace} is ${phase || 'terminating'}`)
        : cond('NamespaceReady', 'False', 'NotCreated', `namespace ${s.ctx.namespace} is not created yet`);
  return { conditions: [c], stop: c.status !== 'True' };
};

/** Every NetworkPolicy before any workload: no pod of the war room ever runs unfenced. */
export const policiesPhase: PhaseFn = async (s) => {
  await s.apply(ofKind(s.desired, ['NetworkPolicy']));
  return { conditions: [] };
};

/** Secrets are created once (sealed), before the workloads that mount them. */
export const secretsPhase: PhaseFn = async (s, d) => {
  const result = await d.secrets.ensure(s.ctx, secretPlan(s.ctx), s.signal);
  if (!result.ok) {
    await d.emitWarning(result.reason, 'Provision', result.message);
    return {
      conditions: [cond('SecretsSealed', 'False', result.reason, result.message)],
      stop: true,
      requeueAfterMs: result.retryAfterMs,
    };
  }
  if (result.created.length > 0) {
    await d.emitNormal(
      'SecretsCreated',
      'Provision',
      `created ${result.created.length} secret(s) (${s.ctx.secretsMode}): ${result.created.join(', ')}`,
    );
  }
  const sealed = s.ctx.secretsMode === 'sealed';
  return {
    conditions: [cond('SecretsSealed', 'True', sealed ? 'Sealed' : 'CreatedPlain', `${result.total} secrets in place`)],
  };
};

/**
 * What the workloads use and that runs nothing (ServiceAccounts, ConfigMaps, Services, the quota, RBAC, Ingress): it
 * needs only the namespace, so it goes in with the policies and the secrets.
 */
export const supportingPhase: PhaseFn = async (s) => {
  await s.apply(s.desired.filter((o) => !LATE_KINDS.includes(o.kind) && !POD_KINDS.includes(o.kind)));
  return { conditions: [] };
};

/** Synapse (with the recorder), Element, coturn; readiness from the caches. */
export const workloadsPhase: PhaseFn = async (s, d) => {
  const workloads = s.desired.filter((o) => POD_KINDS.includes(o.kind));
  await s.apply(workloads);
  const pins = imagesWithoutDigest(s.ctx);
  const live = d.cluster.children(s.ctx.namespace);
  return {
    conditions: [
      ...observeWorkloads(workloads, live),
      pins.length === 0
        ? cond('ImagesPinned', 'True', 'DigestPinned', 'every image is pinned by digest')
        : cond('ImagesPinned', 'False', 'NotPinnedByDigest', `pin these images by @sha256 digest: ${pins.join(', ')}`),
    ],
  };
};

/**
 * The provisioning Job: it needs Synapse up and the recorder joined, and waits for both itself (bounded), so it is
 * applied with the workloads rather than a round trip after them.
 */
export const provisioningPhase: PhaseFn = async (s, d) => {
  const job = ofKind(s.desired, ['Job']);
  await s.apply(job);
  const conditions = observeWorkloads(job, d.cluster.children(s.ctx.namespace));
  const failed = conditions.find((c) => c.reason === 'ProvisioningFailed');
  return { conditions, ...(failed ? { stop: true } : {}) };
};

/** How often a live war room's transcript figures (events, head hash) are refreshed into status. */
export const RECORDING_REFRESH_MS = 60_000;

/**
 * Informational: Ready does not wait for it (Synapse's pod readiness already includes the recorder container, and the
 * Job invites nobody before the recorder joined), but a recorder that stopped answering shows. Talks to the recorder,
 * never to the apiserver.
 */
export const recordingPhase: PhaseFn = async (s, d) => {
  if (!s.ctx.recording.enabled) {
    return { conditions: [cond('Recording', 'False', 'RecordingDisabled', 'recording is off')] };
  }
  const synapseUp = s.outcome.parts.some((c) => c.type === 'SynapseReady' && c.status === 'True');
  if (!d.recorder || !synapseUp) return { conditions: [] };
  try {
    const r = await d.recorder.status(s.ctx.namespace, s.signal);
    s.outcome.fields.recording = { events: r.events, ...(r.headHash ? { headHash: r.headHash } : {}) };
    const c = r.ready
      ? cond('Recording', 'True', 'RecorderRunning', `${r.events} events recorded; head ${r.headHash.slice(0, 12)}`)
      : cond('Recording', 'False', 'RecorderNotReady', 'the recorder is starting');
    return { conditions: [c], requeueAfterMs: RECORDING_REFRESH_MS };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      conditions: [cond('Recording', 'False', 'RecorderUnreachable', message.slice(0, 500))],
      requeueAfterMs: RECORDING_REFRESH_MS,
    };
  }
};

/** Expiry warnings, each once: an Event, and a notice in #control through the recorder. */
export const expiryPhase: PhaseFn = async (s, d) => {
  const sent = [...(s.channel.status?.ttlWarningsSent ?? [])];
  const at = s.decision.expiresAt;
  for (const before of s.decision.warningsDue) {
    const minutes = Math.round(before / 60_000);
    await d.emitNormal('ExpiryWarning', 'Warn', `the war room closes in ${minutes} min, at ${at.toISOString()}`);
    if (s.ctx.recording.enabled && d.recorder) {
      // Best effort: the Event above is the record; a recorder that is down must not hold the warning back.
      await d.recorder
        .notice(
          s.ctx.namespace,
          `⚠️ This war room closes in ${minutes} minutes (${at.toISOString()}). Export anything you need; the transcript is archived automatically.`,
          s.signal,
        )
        .catch((err: unknown) => d.log.warn({ err: String(err) }, 'could not post the expiry warning in #control'));
    }
    sent.push(before);
  }
  s.outcome.fields.ttlWarningsSent = sent;
  s.outcome.warned = sent.length > 0;
  return { conditions: [] };
};

/**
 * Phases that need nothing from each other, run at the same time; their conditions in the order given. Every one
 * finishes (a failure does not leave another's requests running behind the reconcile) before the first error is
 * thrown.
 */
export function together(...phases: PhaseFn[]): PhaseFn {
  return async (s, d) => {
    const settled = await Promise.allSettled(phases.map((phase) => phase(s, d)));
    const results: PhaseResult[] = [];
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason;
      results.push(r.value);
    }
    const waits = results.flatMap((r) => (r.requeueAfterMs === undefined ? [] : [r.requeueAfterMs]));
    return {
      conditions: results.flatMap((r) => r.conditions),
      ...(results.some((r) => r.stop) ? { stop: true } : {}),
      ...(waits.length > 0 ? { requeueAfterMs: Math.min(...waits) } : {}),
    };
  };
}

/**
 * The lifecycle of a live channel, top to bottom. Policies, secrets and what supports the workloads need only the
 * namespace, and the pods (the workloads' and the Job's) need all three: a new war room costs three apiserver round
 * trips after its finalizer (namespace; policies, secrets and the rest; the pods' owners), instead of five.
 */
export const LIVE_PHASES: readonly PhaseFn[] = [
  namespacePhase,
  together(policiesPhase, secretsPhase, supportingPhase),
  together(workloadsPhase, provisioningPhase),
  recordingPhase,
  expiryPhase,
];

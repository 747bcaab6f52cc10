import { API_VERSION, KIND } from './api/v1alpha1/incidentchannel.ts';
import type { OperatorConfig } from './config.ts';
import { type Channel, toChannel } from './controllers/incidentchannel/channel.ts';
import { updateNeedsReconcile } from './controllers/incidentchannel/channel-updates.ts';
import {
  ChildIndex,
  type Projected,
  projectMetadata,
  projectNamespace,
  projectPod,
  projectService,
  projectSpec,
  projectWorkload,
  sameProjection,
} from './controllers/incidentchannel/children.ts';
import { PRUNABLE_KINDS } from './controllers/incidentchannel/desired/index.ts';
import type { EvidenceHook } from './controllers/incidentchannel/evidence-hook.ts';
import { KubeChannelCluster } from './controllers/incidentchannel/kube-cluster.ts';
import { LABEL_MANAGED_BY, MANAGED_BY } from './controllers/incidentchannel/names.ts';
import { IncidentChannelReconciler } from './controllers/incidentchannel/reconciler.ts';
import { HttpRecorderClient } from './controllers/incidentchannel/recorder-client.ts';
import { RecorderEvidence } from './controllers/incidentchannel/recorder-evidence.ts';
import { mayFreeRelayBlock } from './controllers/incidentchannel/relay-ports.ts';
import { SecretsPhase } from './controllers/incidentchannel/secrets-phase.ts';
import { evidenceFromConfig } from './evidence/from-config.ts';
import { publicKeyOf } from './evidence/signing.ts';
import { KubeClient } from './kube/client.ts';
import { loadKubeConfig } from './kube/config.ts';
import { EventRecorder } from './kube/events.ts';
import { LeaderElector } from './kube/leader.ts';
import type { KubeObject } from './kube/objects.ts';
import { Reflector } from './kube/reflector.ts';
import { KubeRest } from './kube/rest.ts';
import { sealingCertSource } from './kube/sealing-cert.ts';
import type { Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { type Clock, realClock } from './runtime/clock.ts';
import { Controller } from './runtime/controller.ts';
import { defaultControllerRateLimiter } from './runtime/rate-limiter.ts';
import { WorkQueue } from './runtime/workqueue.ts';

export const CONTROLLER_NAME = 'incidentchannel';

export interface OperatorDeps {
  config: OperatorConfig;
  log: Logger;
  clock?: Clock;
  evidence?: EvidenceHook;
  /** Called when leadership is lost; the default exits so the Deployment restarts us clean. */
  onLostLeadership?: () => void;
}

export interface Operator {
  metrics: Metrics;
  channels: Reflector<Channel>;
  client: KubeClient;
  /** Caches synced, and (when leading) workers running: what /readyz reports. */
  ready(): boolean;
  isLeader(): boolean;
  /** Nothing queued and nothing being reconciled: a quiet moment (src/runtime/memory-mode.ts). */
  idle(): boolean;
  stop(): Promise<void>;
}

/**
 * Wires one operator process: reflectors fill caches (every replica), the leader runs the workers, and everything
 * stops in reverse order on SIGTERM — in-flight reconciles finish, the lease is released for a fast hand-over.
 */
export async function startOperator(deps: OperatorDeps): Promise<Operator> {
  const { config, log } = deps;
  const clock = deps.clock ?? realClock;
  const rest = new KubeRest(loadKubeConfig(config.kubeconfig));
  const client = new KubeClient(rest);
  const metrics = createMetrics();
  const events = new EventRecorder(client, { controller: 'warroom.dev/operator', instance: config.identity, log });

  const queue = new WorkQueue({
    name: CONTROLLER_NAME,
    clock,
    rateLimiter: defaultControllerRateLimiter({ clock }),
    metrics: metrics.workqueue(CONTROLLER_NAME, CONTROLLER_NAME),
  });

  // The cache holds each channel parsed once by the zod schema the CRD is generated from: typed end to end.
  // Declared below, with the reconciler; the handlers run only once the reflectors start.
  const wakeAwaitingRelayPorts = () => {
    for (const name of reconciler.awaitingRelayPorts()) queue.add(name);
  };
  const channels = new Reflector<Channel>({
    rest,
    apiVersion: API_VERSION,
    kind: KIND,
    labelSelector: config.channelSelector,
    transform: toChannel,
    log,
    metrics: metrics.reflector,
    relistIntervalMs: config.resyncPeriod,
    handlers: {
      onUpsert: (o, old) => {
        if (updateNeedsReconcile(o, old)) queue.add(o.metadata.name);
        if (mayFreeRelayBlock({ channel: o, old, deleted: false })) wakeAwaitingRelayPorts();
      },
      onDelete: (o) => {
        queue.add(o.metadata.name);
        if (mayFreeRelayBlock({ channel: o, old: undefined, deleted: true })) wakeAwaitingRelayPorts();
      },
      onSync: (all) => {
        for (const o of all) queue.add(o.metadata.name);
      },
    },
  });
  metrics.warroom.countChannelPhasesWith(() => {
    const counts: Record<string, number> = {};
    for (const c of channels.list()) {
      const phase = c.status?.phase ?? 'Pending';
      counts[phase] = (counts[phase] ?? 0) + 1;
    }
    return counts;
  });

  const recorder = new HttpRecorderClient({
    urls: { status: config.recorderStatusUrl, control: config.recorderControlUrl },
  });
  const evidence = deps.evidence ?? (await recorderEvidence(config, recorder, clock, log));

  const childIndex = new ChildIndex();
  const reconciler = new IncidentChannelReconciler({
    cluster: new KubeChannelCluster(client, channels, childIndex),
    now: () => clock.now(),
    emit: (obj, ev, signal) => events.emit(obj, ev, signal),
    evidence,
    recorder,
    secrets: new SecretsPhase({
      client,
      mode: config.secrets,
      certSource: sealingCertSource(rest, {
        file: config.sealingCert,
        namespace: config.sealedSecretsNamespace,
        service: config.sealedSecretsService,
        port: config.sealedSecretsPort,
      }),
    }),
    expiry: { maxTtlMs: config.maxTtl, warnBeforeMs: config.warnBefore, maxRequeueMs: 3_600_000 },
    settings: {
      namespacePrefix: config.namespacePrefix,
      secretsMode: config.secrets,
      ...(config.relayPorts ? { relayPortRange: config.relayPorts } : {}),
      images: Object.fromEntries(
        Object.entries({
          synapse: config.synapseImage,
          element: config.elementImage,
          coturn: config.coturnImage,
          livekit: config.livekitImage,
          postgres: config.postgresImage,
          operator: config.operatorImage,
        }).filter(([, v]) => v !== undefined),
      ),
      network: {
        podCidrs: config.podCidrs,
        serviceCidrs: config.serviceCidrs,
        nodeCidrs: config.nodeCidrs,
        dnsNamespace: config.dnsNamespace,
        dnsPodLabels: config.dnsLabels,
        ingressNamespaceLabels: config.ingressNamespaceLabels,
        monitoringNamespaceLabels: config.monitoringNamespaceLabels,
        operatorNamespace: config.namespace,
      },
    },
    metrics: {
      teardown: (reason) => metrics.warroom.teardown(reason),
      ttlLateness: (s) => metrics.warroom.observeTtlLateness(s),
      channelReady: (s) => metrics.warroom.observeChannelReady(s),
    },
  });

  // Children (the controller-runtime `Owns()` pattern): every object the operator makes or reads in war-room
  // namespaces is watched by label and kept as a small projection; a change wakes its channel, which then reads
  // readiness from these caches instead of asking the apiserver. Drift (not our own apply's echo) re-applies.
  const childKinds: { apiVersion: string; kind: string; project: (o: KubeObject) => Projected<unknown> }[] = [
    { apiVersion: 'v1', kind: 'Namespace', project: projectNamespace },
    { apiVersion: 'v1', kind: 'Pod', project: projectPod },
    ...PRUNABLE_KINDS.map(({ apiVersion, kind }) => ({
      apiVersion,
      kind,
      project:
        kind === 'Service'
          ? projectService
          : kind === 'StatefulSet' || kind === 'Deployment' || kind === 'Job'
            ? projectWorkload
            : kind === 'ResourceQuota'
              ? projectSpec
              : projectMetadata,
    })),
  ];
  const wake = (o: KubeObject, deleted: boolean) => {
    const name = reconciler.noteChildEvent(o, deleted);
    if (name) queue.add(name);
    if (mayFreeRelayBlock({ service: o, deleted })) wakeAwaitingRelayPorts();
  };
  const children = childKinds.map(
    ({ apiVersion, kind, project }) =>
      new Reflector<Projected<unknown>>({
        rest,
        apiVersion,
        kind,
        // projectMetadata reads metadata alone: the apiserver need not send the rest (ConfigMaps carry whole files).
        metadataOnly: project === projectMetadata,
        labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
        transform: project,
        log,
        metrics: metrics.reflector,
        relistIntervalMs: config.resyncPeriod,
        handlers: {
          onUpsert: (o, old) => {
            childIndex.upsert(o);
            // A pod's status moved but nothing readiness reads did, or the quota controller recounted a quota's
            // usage (the projection is the same): nothing to wake. Taken for drift, the quota's recounts re-applied
            // the whole war room after every pod it started, several times per war room coming up.
            if ((kind === 'Pod' || kind === 'ResourceQuota') && old && sameProjection(old, o)) return;
            wake(o, false);
          },
          onDelete: (o) => {
            childIndex.remove(o);
            wake(o, true);
          },
          onSync: (all) => childIndex.replaceKind(apiVersion, kind, all),
        },
      }),
  );

  const controller = new Controller({
    name: CONTROLLER_NAME,
    queue,
    workers: config.workers,
    clock,
    logger: log,
    metrics: metrics.controller(CONTROLLER_NAME),
    reconcile: (key, ctx) => reconciler.reconcile(key, ctx),
  });

  for (const r of [channels, ...children]) r.start();
  await Promise.all([channels, ...children].map((r) => r.waitForSync()));
  log.info({ channels: channels.list().length }, 'caches synced');

  let leading = !config.leaderElect;
  const elector = config.leaderElect
    ? new LeaderElector({
        client,
        namespace: config.namespace,
        name: config.leaseName,
        identity: config.identity,
        leaseDurationSeconds: Math.ceil(config.leaseDuration / 1000),
        renewDeadlineMs: config.renewDeadline,
        retryPeriodMs: config.retryPeriod,
        log,
        onStartedLeading: () => {
          leading = true;
          controller.start();
        },
        onStoppedLeading: () => {
          leading = false;
          log.error({}, 'lost leadership; exiting so a fresh process can take over cleanly');
          (deps.onLostLeadership ?? (() => process.exit(1)))();
        },
      })
    : undefined;
  if (elector) elector.start();
  else controller.start();

  let stopped = false;
  return {
    metrics,
    channels,
    client,
    ready: () => channels.hasSynced && (!leading || controller.started),
    isLeader: () => leading,
    idle: () => queue.len() === 0 && queue.processingKeys().length === 0,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      const result = await controller.stop();
      if (!result.drained) log.warn({ abandoned: result.abandoned }, 'stopped with reconciles still in flight');
      await elector?.stop();
      await Promise.all([channels, ...children].map((r) => r.stop()));
    },
  };
}

async function recorderEvidence(
  config: OperatorConfig,
  recorder: HttpRecorderClient,
  clock: Clock,
  log: Logger,
): Promise<EvidenceHook> {
  const { store, signingKey, tsa } = await evidenceFromConfig(config, () => clock.now());
  return new RecorderEvidence({
    recorder,
    store,
    signingKey,
    publicKey: publicKeyOf(signingKey),
    now: () => clock.now(),
    policy: config.evidencePolicy,
    ...(tsa ? { tsa } : {}),
    log: log.child({ component: 'evidence' }),
  });
}

import { API_VERSION, KIND } from './api/v1alpha1/incidentchannel.ts';
import type { OperatorConfig } from './config.ts';
import { PRUNABLE_KINDS } from './controllers/incidentchannel/desired/index.ts';
import type { EvidenceHook } from './controllers/incidentchannel/evidence-hook.ts';
import { LABEL_MANAGED_BY, MANAGED_BY } from './controllers/incidentchannel/names.ts';
import { IncidentChannelReconciler } from './controllers/incidentchannel/reconciler.ts';
import { HttpRecorderClient } from './controllers/incidentchannel/recorder-client.ts';
import { RecorderEvidence } from './controllers/incidentchannel/recorder-evidence.ts';
import { SecretsPhase } from './controllers/incidentchannel/secrets-phase.ts';
import { evidenceFromConfig } from './evidence/from-config.ts';
import { publicKeyOf } from './evidence/signing.ts';
import { KubeClient } from './kube/client.ts';
import { loadKubeConfig } from './kube/config.ts';
import { EventRecorder } from './kube/events.ts';
import { LeaderElector } from './kube/leader.ts';
import type { KubeObject } from './kube/objects.ts';
import { metadataOnly, Reflector } from './kube/reflector.ts';
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
  channels: Reflector<KubeObject>;
  client: KubeClient;
  /** Caches synced, and (when leading) workers running: what /readyz reports. */
  ready(): boolean;
  isLeader(): boolean;
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

  const channels = new Reflector<KubeObject>({
    rest,
    apiVersion: API_VERSION,
    kind: KIND,
    labelSelector: config.channelSelector,
    log,
    metrics: metrics.reflector,
    relistIntervalMs: config.resyncPeriod,
    handlers: {
      onUpsert: (o) => queue.add(o.metadata.name),
      onDelete: (o) => queue.add(o.metadata.name),
      onSync: (all) => {
        for (const o of all) queue.add(o.metadata.name);
      },
    },
  });
  metrics.warroom.countChannelPhasesWith(() => {
    const counts: Record<string, number> = {};
    for (const c of channels.list()) {
      const phase = (c as { status?: { phase?: string } }).status?.phase ?? 'Pending';
      counts[phase] = (counts[phase] ?? 0) + 1;
    }
    return counts;
  });

  const recorder = new HttpRecorderClient({
    urls: { status: config.recorderStatusUrl, control: config.recorderControlUrl },
  });
  const evidence = deps.evidence ?? (await recorderEvidence(config, recorder, clock, log));

  const reconciler = new IncidentChannelReconciler({
    client,
    getChannel: (name) => channels.get(name),
    listChannels: () => channels.list(),
    now: () => clock.now(),
    emit: (obj, ev) => events.emit(obj, ev),
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
      images: Object.fromEntries(
        Object.entries({
          synapse: config.synapseImage,
          element: config.elementImage,
          coturn: config.coturnImage,
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

  // Children: a drifted or deleted object re-triggers its channel (the controller-runtime `Owns()` pattern).
  const childKinds = [{ apiVersion: 'v1', kind: 'Namespace' }, ...PRUNABLE_KINDS];
  const children = childKinds.map(
    ({ apiVersion, kind }) =>
      new Reflector<KubeObject>({
        rest,
        apiVersion,
        kind,
        labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
        transform: metadataOnly,
        log,
        metrics: metrics.reflector,
        relistIntervalMs: config.resyncPeriod,
        handlers: {
          onUpsert: (o, old) => {
            if (!old) return;
            const name = reconciler.noteChildEvent(o, false);
            if (name) queue.add(name);
          },
          onDelete: (o) => {
            const name = reconciler.noteChildEvent(o, true);
            if (name) queue.add(name);
          },
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

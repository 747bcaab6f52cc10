import { readFileSync } from 'node:fs';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import {
  eventRules,
  fetchesSealingCert,
  leaderElectionRules,
  operatorClusterRules,
  type PolicyRule,
  sealingCertRules,
} from './rbac.ts';
import { objectNames, type WarroomSettings, wantsEvidenceVolume } from './settings.ts';
import {
  evidenceClaimSpec,
  namespaceLabels,
  operatorDeploymentSpec,
  operatorNetworkPolicySpec,
  operatorPdbSpec,
  operatorServiceSpec,
  wantsPdb,
} from './workload.ts';

/** The CRD exactly as generated (crds/ is the single source, shared with the Helm chart). */
export const CRD_PATH = new URL('../../crds/incidentchannels.warroom.dev.yaml', import.meta.url);

/** Events about cluster-scoped objects live here (the client-go recorder convention). */
const EVENTS_NAMESPACE = 'default';

/**
 * The warroom operator as one Pulumi component: the CRD, the namespace, RBAC, the ServiceAccount, the evidence
 * volume's claim, the Deployment, its Service, PodDisruptionBudget (with more than one replica) and NetworkPolicy.
 * Same objects as the Helm chart, configured from stack settings.
 */
export class WarroomOperator extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly deploymentName: pulumi.Output<string>;
  /** Every resource the component created, for tests and for dependsOn by callers. */
  readonly children: pulumi.CustomResource[] = [];

  constructor(name: string, settings: WarroomSettings, opts?: pulumi.ComponentResourceOptions) {
    super('warroom:index:WarroomOperator', name, {}, opts);
    const s = settings;
    const names = objectNames(s);
    const labels = {
      'app.kubernetes.io/name': 'warroom',
      'app.kubernetes.io/instance': s.name,
      'app.kubernetes.io/part-of': 'warroom',
      'app.kubernetes.io/managed-by': 'pulumi',
    };
    const add = <T extends pulumi.CustomResource>(r: T): T => {
      this.children.push(r);
      return r;
    };
    const parent = { parent: this };

    const crd = add(
      new k8s.apiextensions.v1.CustomResourceDefinition(
        `${name}-crd`,
        parse(readFileSync(CRD_PATH, 'utf8')) as k8s.apiextensions.v1.CustomResourceDefinitionArgs,
        // Deleting the CRD would delete every IncidentChannel, and with them the record of past incidents.
        { ...parent, retainOnDelete: true },
      ),
    );

    const ns = s.createNamespace
      ? add(
          new k8s.core.v1.Namespace(
            `${name}-namespace`,
            { metadata: { name: s.namespace, labels: { ...labels, ...namespaceLabels() } } },
            parent,
          ),
        )
      : undefined;
    const inNamespace = { ...parent, dependsOn: ns ? [ns] : [] };
    const meta = (objectName: string, namespace?: string) => ({ name: objectName, namespace, labels });

    const sa = add(
      new k8s.core.v1.ServiceAccount(
        `${name}-sa`,
        { metadata: meta(names.serviceAccount, s.namespace), automountServiceAccountToken: true },
        inNamespace,
      ),
    );
    const subject = { kind: 'ServiceAccount', name: names.serviceAccount, namespace: s.namespace };

    const clusterRole = (id: string, objectName: string, rules: PolicyRule[]) =>
      add(new k8s.rbac.v1.ClusterRole(`${name}-${id}`, { metadata: meta(objectName), rules }, parent));
    const role = (id: string, objectName: string, namespace: string, rules: PolicyRule[]) => {
      const r = add(
        new k8s.rbac.v1.Role(`${name}-${id}`, { metadata: meta(objectName, namespace), rules }, inNamespace),
      );
      add(
        new k8s.rbac.v1.RoleBinding(
          `${name}-${id}`,
          {
            metadata: meta(objectName, namespace),
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: objectName },
            subjects: [subject],
          },
          { ...inNamespace, dependsOn: [...(ns ? [ns] : []), r, sa] },
        ),
      );
    };

    const operatorRole = clusterRole('operator', names.base, operatorClusterRules(s));
    add(
      new k8s.rbac.v1.ClusterRoleBinding(
        `${name}-operator`,
        {
          metadata: meta(names.base),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: names.base },
          subjects: [subject],
        },
        { ...parent, dependsOn: [operatorRole, sa] },
      ),
    );
    if (s.leaderElection) role('leader-election', names.leaderElectionRole, s.namespace, leaderElectionRules(s));
    role('events', names.eventsRole, EVENTS_NAMESPACE, eventRules());
    if (fetchesSealingCert(s)) {
      role('sealing-cert', names.sealingCertRole, s.sealedSecretsNamespace, sealingCertRules(s));
    }

    const claim =
      s.evidencePersistence && wantsEvidenceVolume(s)
        ? add(
            new k8s.core.v1.PersistentVolumeClaim(
              `${name}-evidence`,
              {
                metadata: {
                  ...meta(names.evidenceClaim, s.namespace),
                  // With a WaitForFirstConsumer class the claim binds only once the Deployment's pod exists, and the
                  // Deployment waits for the claim: do not wait for Bound (pulumi-kubernetes #895). The Deployment's own
                  // readiness proves the volume mounted.
                  annotations: { 'pulumi.com/skipAwait': 'true' },
                },
                spec: evidenceClaimSpec(s),
              },
              // The archives are the record of past incidents: destroying the stack leaves the claim and its volume.
              { ...inNamespace, retainOnDelete: true },
            ),
          )
        : undefined;

    const deployment = add(
      new k8s.apps.v1.Deployment(
        `${name}-operator`,
        { metadata: meta(names.base, s.namespace), spec: operatorDeploymentSpec(s) },
        // The operator only starts once it may watch its CRD and hold its Lease, and its evidence claim exists.
        { ...inNamespace, dependsOn: [...(ns ? [ns] : []), crd, sa, operatorRole, ...(claim ? [claim] : [])] },
      ),
    );
    add(
      new k8s.core.v1.Service(
        `${name}-http`,
        { metadata: meta(names.base, s.namespace), spec: operatorServiceSpec(s) },
        inNamespace,
      ),
    );
    if (wantsPdb(s)) {
      add(
        new k8s.policy.v1.PodDisruptionBudget(
          `${name}-pdb`,
          { metadata: meta(names.base, s.namespace), spec: operatorPdbSpec(s) },
          inNamespace,
        ),
      );
    }
    if (s.networkPolicy) {
      add(
        new k8s.networking.v1.NetworkPolicy(
          `${name}-netpol`,
          { metadata: meta(names.base, s.namespace), spec: operatorNetworkPolicySpec(s) },
          inNamespace,
        ),
      );
    }

    this.namespace = pulumi.output(s.namespace);
    this.deploymentName = deployment.metadata.name;
    this.registerOutputs({ namespace: this.namespace, deploymentName: this.deploymentName });
  }
}

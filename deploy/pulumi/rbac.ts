import { ACCESS_ROLE, type WarroomSettings } from './settings.ts';

/** A PolicyRule as plain data: pure, so tests compare it with the Helm chart's rendered rules. */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The ClusterRole every kind the operator manages in incident namespaces shares (see the chart for each verb's use). */
const CHILD_VERBS = ['get', 'list', 'watch', 'create', 'patch', 'delete'];

/**
 * The operator's cluster-wide rights: the same rules, in the same order, as charts/warroom/templates/rbac-cluster.yaml
 * (whose comments say what every verb is for). test/integration/helm.test.ts compares the two.
 */
export function operatorClusterRules(s: WarroomSettings): PolicyRule[] {
  const secretsRule: PolicyRule =
    s.secretsMode === 'sealed'
      ? { apiGroups: ['bitnami.com'], resources: ['sealedsecrets'], verbs: CHILD_VERBS }
      : // Never get, list or watch: the operator writes generated Secrets and never reads one back.
        { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'patch', 'delete'] };
  return [
    { apiGroups: ['warroom.dev'], resources: ['incidentchannels'], verbs: ['get', 'list', 'watch', 'patch'] },
    { apiGroups: ['warroom.dev'], resources: ['incidentchannels/status'], verbs: ['patch'] },
    { apiGroups: ['warroom.dev'], resources: ['incidentchannels/finalizers'], verbs: ['update'] },
    { apiGroups: [''], resources: ['namespaces'], verbs: CHILD_VERBS },
    {
      apiGroups: [''],
      resources: [
        'serviceaccounts',
        'resourcequotas',
        'limitranges',
        'configmaps',
        'services',
        'persistentvolumeclaims',
      ],
      verbs: CHILD_VERBS,
    },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'], verbs: CHILD_VERBS },
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
    { apiGroups: ['apps'], resources: ['statefulsets', 'deployments'], verbs: CHILD_VERBS },
    { apiGroups: ['batch'], resources: ['jobs'], verbs: CHILD_VERBS },
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings', 'roles'], verbs: CHILD_VERBS },
    {
      apiGroups: ['rbac.authorization.k8s.io'],
      resources: ['roles'],
      verbs: ['escalate', 'bind'],
      resourceNames: [ACCESS_ROLE],
    },
    secretsRule,
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  ];
}

/** The one Lease in the operator's namespace: create (unnamed), then get/update on that name only. */
export function leaderElectionRules(s: WarroomSettings): PolicyRule[] {
  return [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      verbs: ['get', 'update'],
      resourceNames: [s.leaseName],
    },
  ];
}

/** Events about the cluster-scoped IncidentChannels go to `default`; the operator only creates them. */
export function eventRules(): PolicyRule[] {
  return [{ apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] }];
}

/** GET of the sealed-secrets controller's certificate through the API server's service proxy (sealed mode only). */
export function sealingCertRules(s: WarroomSettings): PolicyRule[] {
  return [
    {
      apiGroups: [''],
      resources: ['services/proxy'],
      verbs: ['get'],
      resourceNames: [`${s.sealedSecretsService}:${s.sealedSecretsPort}`],
    },
  ];
}

/** Whether the operator fetches the sealing certificate through the service proxy (and so needs sealingCertRules). */
export function fetchesSealingCert(s: WarroomSettings): boolean {
  return s.secretsMode === 'sealed' && s.sealingCertConfigMap === '';
}

/** True when a rule would let its holder read Secrets (directly or through a wildcard). */
export function grantsSecretRead(rule: PolicyRule): boolean {
  const group = rule.apiGroups.includes('') || rule.apiGroups.includes('*');
  const resource = rule.resources.includes('secrets') || rule.resources.includes('*');
  const verb = rule.verbs.some((v) => v === 'get' || v === 'list' || v === 'watch' || v === '*');
  return group && resource && verb;
}

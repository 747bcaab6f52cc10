import type { Container, PodSecurityContext, PodSpec, SecurityContext } from './pod-types.ts';

/**
 * Every war-room pod runs under the Pod Security Standard "restricted" profile, which the namespace also enforces.
 * The builders use the two constructors below; `checkPodRestricted` re-implements the admission rules so unit tests
 * can prove each pod template would be admitted without a cluster.
 */

export function restrictedPodSecurityContext(uid: number): PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    // Mounted Secrets and volumes become group-readable for this gid, so they can stay 0440 instead of 0444.
    fsGroup: uid,
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function restrictedContainerSecurityContext(options: { addNetBind?: boolean } = {}): SecurityContext {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'], ...(options.addNetBind ? { add: ['NET_BIND_SERVICE'] } : {}) },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

// Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards), "latest" as of v1.34.
const RESTRICTED_VOLUME_SOURCES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
const RESTRICTED_ADDABLE_CAPABILITIES = new Set(['NET_BIND_SERVICE']);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const ALLOWED_SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const ALLOWED_PROFILE_TYPES = new Set(['RuntimeDefault', 'Localhost']);

/**
 * Every way `spec` breaks PSA "restricted" (which includes "baseline"), as readable messages; [] means admitted.
 * Container-level settings override pod-level ones, exactly as admission evaluates them.
 */
export function checkPodRestricted(spec: PodSpec): string[] {
  const problems: string[] = [];
  const pod = spec.securityContext ?? {};
  const containers: [string, Container][] = [
    ...spec.containers.map((c): [string, Container] => [`container "${c.name}"`, c]),
    ...(spec.initContainers ?? []).map((c): [string, Container] => [`init container "${c.name}"`, c]),
    ...(spec.ephemeralContainers ?? []).map((c): [string, Container] => [`ephemeral container "${c.name}"`, c]),
  ];

  if (spec.hostNetwork) problems.push('hostNetwork must not be true');
  if (spec.hostPID) problems.push('hostPID must not be true');
  if (spec.hostIPC) problems.push('hostIPC must not be true');
  if (pod.windowsOptions?.hostProcess) problems.push('pod windowsOptions.hostProcess must not be true');
  if (pod.runAsUser === 0) problems.push('pod runAsUser must not be 0');
  problems.push(...seLinuxProblems('pod', pod.seLinuxOptions));
  if (pod.appArmorProfile && !ALLOWED_PROFILE_TYPES.has(pod.appArmorProfile.type)) {
    problems.push(`pod appArmorProfile must be RuntimeDefault or Localhost, not ${pod.appArmorProfile.type}`);
  }
  if (pod.seccompProfile && !ALLOWED_PROFILE_TYPES.has(pod.seccompProfile.type)) {
    problems.push(`pod seccompProfile must be RuntimeDefault or Localhost, not ${pod.seccompProfile.type}`);
  }
  for (const sysctl of pod.sysctls ?? []) {
    if (!SAFE_SYSCTLS.has(sysctl.name)) problems.push(`sysctl ${sysctl.name} is not in the safe set`);
  }

  for (const volume of spec.volumes ?? []) {
    const sources = Object.keys(volume).filter((key) => key !== 'name');
    for (const source of sources) {
      if (!RESTRICTED_VOLUME_SOURCES.has(source))
        problems.push(`volume "${volume.name}" uses forbidden type ${source}`);
    }
  }

  for (const [where, container] of containers) {
    const sc = container.securityContext ?? {};
    if (sc.privileged) problems.push(`${where} must not be privileged`);
    if (sc.windowsOptions?.hostProcess) problems.push(`${where} windowsOptions.hostProcess must not be true`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') problems.push(`${where} procMount must be Default`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${where} must set allowPrivilegeEscalation: false`);
    const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
    if (nonRoot !== true) problems.push(`${where} must run with runAsNonRoot: true (pod or container)`);
    if (sc.runAsUser === 0) problems.push(`${where} runAsUser must not be 0`);
    const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
    if (seccomp === undefined || !ALLOWED_PROFILE_TYPES.has(seccomp)) {
      problems.push(`${where} seccompProfile must be RuntimeDefault or Localhost (pod or container)`);
    }
    if (sc.appArmorProfile && !ALLOWED_PROFILE_TYPES.has(sc.appArmorProfile.type)) {
      problems.push(`${where} appArmorProfile must be RuntimeDefault or Localhost`);
    }
    problems.push(...seLinuxProblems(where, sc.seLinuxOptions));
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where} must drop ALL capabilities`);
    for (const cap of sc.capabilities?.add ?? []) {
      if (!RESTRICTED_ADDABLE_CAPABILITIES.has(cap))
        problems.push(`${where} may only add NET_BIND_SERVICE, not ${cap}`);
    }
    for (const port of container.ports ?? []) {
      if (port.hostPort !== undefined && port.hostPort !== 0) {
        problems.push(`${where} port ${port.containerPort} must not set hostPort`);
      }
    }
  }
  return problems;
}

function seLinuxProblems(where: string, options: PodSecurityContext['seLinuxOptions']): string[] {
  if (!options) return [];
  const problems: string[] = [];
  if (options.type !== undefined && !ALLOWED_SELINUX_TYPES.has(options.type)) {
    problems.push(`${where} seLinuxOptions.type ${options.type} is not allowed`);
  }
  if (options.user) problems.push(`${where} seLinuxOptions.user must not be set`);
  if (options.role) problems.push(`${where} seLinuxOptions.role must not be set`);
  return problems;
}

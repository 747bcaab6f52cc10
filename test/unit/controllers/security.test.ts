import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Container, PodSpec } from '../../../src/controllers/incidentchannel/desired/pod-types.ts';
import {
  checkPodRestricted,
  restrictedContainerSecurityContext,
  restrictedPodSecurityContext,
} from '../../../src/controllers/incidentchannel/desired/security.ts';

const container = (over: Partial<Container> = {}): Container => ({
  name: 'app',
  image: 'example.invalid/app:1',
  securityContext: restrictedContainerSecurityContext(),
  ...over,
});
const pod = (over: Partial<PodSpec> = {}): PodSpec => ({
  securityContext: restrictedPodSecurityContext(1000),
  containers: [container()],
  ...over,
});

/** Asserts the spec is refused, and for the expected reason. */
function refused(spec: PodSpec, reason: RegExp) {
  const problems = checkPodRestricted(spec);
  assert.ok(
    problems.some((p) => reason.test(p)),
    `expected a problem matching ${reason}, got ${JSON.stringify(problems)}`,
  );
}

test('the restricted constructors produce a pod that passes, with or without NET_BIND_SERVICE', () => {
  assert.deepEqual(checkPodRestricted(pod()), []);
  assert.deepEqual(
    checkPodRestricted(
      pod({ containers: [container({ securityContext: restrictedContainerSecurityContext({ addNetBind: true }) })] }),
    ),
    [],
  );
  const sc = restrictedContainerSecurityContext({ addNetBind: true });
  assert.deepEqual(sc.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(restrictedContainerSecurityContext().capabilities?.add, undefined);
  const podSc = restrictedPodSecurityContext(991);
  assert.equal(podSc.runAsUser, 991);
  assert.equal(podSc.fsGroup, 991);
  assert.equal(podSc.runAsNonRoot, true);
  assert.deepEqual(podSc.seccompProfile, { type: 'RuntimeDefault' });
});

test('host namespaces, host paths and host ports are refused', () => {
  refused(pod({ hostNetwork: true }), /hostNetwork/);
  refused(pod({ hostPID: true }), /hostPID/);
  refused(pod({ hostIPC: true }), /hostIPC/);
  refused(pod({ volumes: [{ name: 'root', hostPath: { path: '/' } }] }), /forbidden type hostPath/);
  refused(pod({ volumes: [{ name: 'nfs', nfs: { server: 'x', path: '/' } }] }), /forbidden type nfs/);
  refused(pod({ containers: [container({ ports: [{ containerPort: 80, hostPort: 80 }] })] }), /hostPort/);
  const fine = pod({
    volumes: [
      { name: 'a', emptyDir: {} },
      { name: 'b', secret: { secretName: 's' } },
      { name: 'c', configMap: { name: 'c' } },
      { name: 'd', projected: { sources: [] } },
      { name: 'e', persistentVolumeClaim: { claimName: 'e' } },
    ],
  });
  assert.deepEqual(checkPodRestricted(fine), []);
});

test('privilege, capabilities and escalation are refused in every kind of container', () => {
  const base = restrictedContainerSecurityContext();
  refused(pod({ containers: [container({ securityContext: { ...base, privileged: true } })] }), /privileged/);
  refused(
    pod({
      containers: [container({ securityContext: { ...base, capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] } } })],
    }),
    /only add NET_BIND_SERVICE, not NET_ADMIN/,
  );
  refused(
    pod({ containers: [container({ securityContext: { ...base, capabilities: { drop: ['NET_RAW'] } } })] }),
    /drop ALL/,
  );
  refused(
    pod({ containers: [container({ securityContext: { ...base, allowPrivilegeEscalation: undefined } })] }),
    /allowPrivilegeEscalation/,
  );
  refused(
    pod({
      initContainers: [container({ name: 'init', securityContext: { ...base, allowPrivilegeEscalation: true } })],
    }),
    /init container "init" must set allowPrivilegeEscalation/,
  );
  refused(
    pod({ ephemeralContainers: [container({ name: 'debug', securityContext: {} })] }),
    /ephemeral container "debug"/,
  );
  refused(pod({ containers: [container({ securityContext: { ...base, procMount: 'Unmasked' } })] }), /procMount/);
});

test('non-root: the pod or every container must say so, a container cannot opt out, uid 0 is refused', () => {
  const { runAsNonRoot: _, ...podWithoutNonRoot } = restrictedPodSecurityContext(1000);
  const { runAsNonRoot: __, ...containerWithoutNonRoot } = restrictedContainerSecurityContext();
  refused(
    pod({ securityContext: podWithoutNonRoot, containers: [container({ securityContext: containerWithoutNonRoot })] }),
    /runAsNonRoot/,
  );
  // Pod-level alone is enough...
  assert.deepEqual(
    checkPodRestricted(pod({ containers: [container({ securityContext: containerWithoutNonRoot })] })),
    [],
  );
  // ...and container-level alone too.
  assert.deepEqual(checkPodRestricted(pod({ securityContext: podWithoutNonRoot })), []);
  refused(
    pod({
      containers: [container({ securityContext: { ...restrictedContainerSecurityContext(), runAsNonRoot: false } })],
    }),
    /runAsNonRoot/,
  );
  refused(
    pod({ securityContext: { ...restrictedPodSecurityContext(1000), runAsUser: 0 } }),
    /pod runAsUser must not be 0/,
  );
  refused(
    pod({ containers: [container({ securityContext: { ...restrictedContainerSecurityContext(), runAsUser: 0 } })] }),
    /runAsUser must not be 0/,
  );
});

test('seccomp must be RuntimeDefault or Localhost, at pod or container level; Unconfined is refused anywhere', () => {
  const { seccompProfile: _, ...podNoSeccomp } = restrictedPodSecurityContext(1000);
  const { seccompProfile: __, ...containerNoSeccomp } = restrictedContainerSecurityContext();
  refused(
    pod({ securityContext: podNoSeccomp, containers: [container({ securityContext: containerNoSeccomp })] }),
    /seccomp/,
  );
  assert.deepEqual(checkPodRestricted(pod({ containers: [container({ securityContext: containerNoSeccomp })] })), []);
  refused(pod({ securityContext: { ...podNoSeccomp, seccompProfile: { type: 'Unconfined' } } }), /seccomp/);
  refused(
    pod({
      containers: [
        container({
          securityContext: { ...restrictedContainerSecurityContext(), seccompProfile: { type: 'Unconfined' } },
        }),
      ],
    }),
    /seccomp/,
  );
  assert.deepEqual(
    checkPodRestricted(
      pod({ securityContext: { ...podNoSeccomp, seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } } }),
    ),
    [],
  );
});

test('sysctls outside the safe set, SELinux user/role/odd types, AppArmor Unconfined and hostProcess are refused', () => {
  const sc = restrictedPodSecurityContext(1000);
  refused(pod({ securityContext: { ...sc, sysctls: [{ name: 'kernel.msgmax', value: '1' }] } }), /kernel.msgmax/);
  assert.deepEqual(
    checkPodRestricted(
      pod({ securityContext: { ...sc, sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] } }),
    ),
    [],
  );
  refused(pod({ securityContext: { ...sc, seLinuxOptions: { user: 'system_u' } } }), /seLinuxOptions.user/);
  refused(pod({ securityContext: { ...sc, seLinuxOptions: { role: 'r' } } }), /seLinuxOptions.role/);
  refused(pod({ securityContext: { ...sc, seLinuxOptions: { type: 'spc_t' } } }), /spc_t/);
  assert.deepEqual(
    checkPodRestricted(pod({ securityContext: { ...sc, seLinuxOptions: { type: 'container_t', level: 's0:c1' } } })),
    [],
  );
  refused(pod({ securityContext: { ...sc, appArmorProfile: { type: 'Unconfined' } } }), /appArmor/);
  refused(pod({ securityContext: { ...sc, windowsOptions: { hostProcess: true } } }), /hostProcess/);
});

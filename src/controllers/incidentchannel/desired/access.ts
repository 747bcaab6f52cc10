import type { KubeObject } from '../../../kube/objects.ts';
import type { BuildContext } from './context.ts';
import { childMeta } from './object-meta.ts';
import { participantSecretName } from './secret-names.ts';

/**
 * Lets the people in `spec.access` read the participants' initial passwords, and nothing else: `get` on exactly the
 * `participant-*` Secrets by name (no list, no watch, no other Secret such as the homeserver's keys).
 *
 * The operator itself never needs `secrets: get`. But RBAC's escalation check means that to create this Role the
 * operator must either hold what it grants or have `escalate` on roles, and to bind it it needs `bind` on roles in
 * the war-room namespaces: the chart must grant `escalate` + `bind` (not `secrets: get`).
 */

export const ACCESS_ROLE = 'participant-credentials-reader';

export function buildAccess(ctx: BuildContext): KubeObject[] {
  const { users, groups } = ctx.access;
  if (users.length === 0 && groups.length === 0) return [];
  const rbac = 'rbac.authorization.k8s.io';
  return [
    {
      apiVersion: `${rbac}/v1`,
      kind: 'Role',
      metadata: childMeta(ctx, ACCESS_ROLE, 'access'),
      rules: [
        {
          apiGroups: [''],
          resources: ['secrets'],
          verbs: ['get'],
          resourceNames: ctx.participants.map((p) => participantSecretName(p.handle)),
        },
      ],
    },
    {
      apiVersion: `${rbac}/v1`,
      kind: 'RoleBinding',
      metadata: childMeta(ctx, ACCESS_ROLE, 'access'),
      roleRef: { apiGroup: rbac, kind: 'Role', name: ACCESS_ROLE },
      subjects: [
        ...users.map((name) => ({ apiGroup: rbac, kind: 'User', name })),
        ...groups.map((name) => ({ apiGroup: rbac, kind: 'Group', name })),
      ],
    },
  ];
}

import type { KubeRest } from './rest.ts';

/** Who a bearer token belongs to, as the apiserver's TokenReview reports it. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export type TokenReviewResult = { authenticated: true; user: UserInfo } | { authenticated: false };

/** What a request wants to do, in SubjectAccessReview terms. */
export type AccessAttributes =
  | { kind: 'resource'; verb: string; group: string; resource: string; name?: string; namespace?: string }
  | { kind: 'nonResource'; verb: string; path: string };

export interface AccessReviewResult {
  allowed: boolean;
  /** The authorizer's explanation (e.g. the RBAC binding that allowed it); may be empty. */
  reason?: string;
}

/** The two questions an authenticating HTTP front end asks of Kubernetes. */
export interface AccessReviewer {
  reviewToken(token: string): Promise<TokenReviewResult>;
  reviewAccess(user: UserInfo, attributes: AccessAttributes): Promise<AccessReviewResult>;
}

/** The IncidentChannel resource as RBAC names it (cluster-scoped: no namespace). */
export const CHANNEL_RESOURCE = { group: 'warroom.dev', resource: 'incidentchannels' } as const;

export const channelAccess = (verb: 'get' | 'list', name?: string): AccessAttributes => ({
  kind: 'resource',
  verb,
  ...CHANNEL_RESOURCE,
  ...(name === undefined ? {} : { name }),
});

interface TokenReviewStatus {
  status?: { authenticated?: boolean; user?: Partial<UserInfo>; error?: string };
}

interface SubjectAccessReviewStatus {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

export interface TokenReviewerOptions {
  /** Audiences the token must be valid for; the apiserver's own audience when empty. */
  audiences?: string[];
  timeoutMs?: number;
}

/**
 * Delegated authentication and authorisation, the way kube-rbac-proxy and aggregated apiservers do it: a TokenReview
 * says who the token belongs to, a SubjectAccessReview whether that user may do the thing. The operator needs the
 * `system:auth-delegator` ClusterRole (create tokenreviews and subjectaccessreviews). Both are create-only virtual
 * resources: nothing is stored, and the token travels only in the request body, never in a URL or an error.
 */
export class TokenReviewer implements AccessReviewer {
  readonly #rest: KubeRest;
  readonly #audiences: string[] | undefined;
  readonly #timeoutMs: number;

  constructor(rest: KubeRest, opts: TokenReviewerOptions = {}) {
    this.#rest = rest;
    this.#audiences = opts.audiences?.length ? opts.audiences : undefined;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
  }

  async reviewToken(token: string): Promise<TokenReviewResult> {
    const review = await this.#rest.request<TokenReviewStatus>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, ...(this.#audiences ? { audiences: this.#audiences } : {}) },
      },
      timeoutMs: this.#timeoutMs,
    });
    const status = review?.status;
    const username = status?.user?.username;
    if (!status?.authenticated || !username) return { authenticated: false };
    const user: UserInfo = { username };
    if (status.user?.uid) user.uid = status.user.uid;
    if (status.user?.groups?.length) user.groups = [...status.user.groups];
    if (status.user?.extra && Object.keys(status.user.extra).length > 0) user.extra = { ...status.user.extra };
    return { authenticated: true, user };
  }

  async reviewAccess(user: UserInfo, attributes: AccessAttributes): Promise<AccessReviewResult> {
    const { kind, ...attrs } = attributes;
    const review = await this.#rest.request<SubjectAccessReviewStatus>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            ...(user.uid ? { uid: user.uid } : {}),
            ...(user.groups ? { groups: user.groups } : {}),
            ...(user.extra ? { extra: user.extra } : {}),
            ...(kind === 'resource' ? { resourceAttributes: attrs } : { nonResourceAttributes: attrs }),
          },
        },
        timeoutMs: this.#timeoutMs,
      },
    );
    const status = review?.status;
    // `denied` is an explicit no from an authorizer; a missing `allowed` is a no as well.
    const allowed = status?.allowed === true && status.denied !== true;
    const reason = status?.reason || status?.evaluationError;
    return reason ? { allowed, reason } : { allowed };
  }
}

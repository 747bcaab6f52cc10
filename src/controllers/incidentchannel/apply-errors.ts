import { ApiError, isNamespaceTerminating } from '../../kube/errors.ts';
import { describeRef, type KubeObject, refOf } from '../../kube/objects.ts';

/**
 * The apiserver refused a child for good: retrying the same object cannot succeed (400/422 validation, a typed-patch
 * 500 from a field of the wrong type, 404 for a kind the cluster does not serve, 403 for a permission the operator
 * lacks). The channel goes Stalled with the child and the apiserver's own words, which name the field.
 */
export class ChildRejectedError extends Error {
  readonly child: string;
  readonly code: number;

  constructor(obj: KubeObject, err: ApiError) {
    const said = err.message.replace(/^\w+ \S+: /, '');
    super(`the apiserver refused ${describeRef(refOf(obj))}: ${said}`.slice(0, 2000));
    this.name = 'ChildRejectedError';
    this.child = describeRef(refOf(obj));
    this.code = err.code;
  }
}

const TYPED_PATCH = /failed to create typed patch object|typed value|expected (list|map|string|numeric)/;
/**
 * A quota's answer (403): usage changes as objects go and as the quota controller recounts (a create cut short keeps
 * its charge until then), so it is retried with backoff, as the ReplicaSet controller retries its pods.
 */
const QUOTA_EXCEEDED = /exceeded quota/;

/** Permanent or not: everything not listed here (409, 429, other 5xx, timeouts, resets) is retried with backoff. */
export function isPermanentRejection(err: unknown): err is ApiError {
  if (!(err instanceof ApiError)) return false;
  if (isNamespaceTerminating(err)) return false;
  if (err.code === 403 && QUOTA_EXCEEDED.test(err.message)) return false;
  if (err.code === 400 || err.code === 422 || err.code === 404 || err.code === 403) return true;
  return err.code === 500 && TYPED_PATCH.test(err.message);
}

export function describeError(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 1000);
}

import { isDeepStrictEqual } from 'node:util';
import type { Channel } from './channel.ts';
import { hasFinalizer } from './finalizer.ts';
import { FINALIZER } from './names.ts';

/**
 * Whether a channel's update from the watch needs a reconcile of its own. Its status and this operator's finalizer are
 * written by the reconciler alone, and the pass that wrote them went on with what it wrote; a reconcile for their
 * echo did the same work again (for a stalled channel: a second list, Warning event and log line before its backoff).
 * So an update that changes nothing else (no spec, generation, label, annotation, other finalizer or deletion) wakes
 * nothing. Judged by content, not by the write's resourceVersion: the echo may be read off the watch before the
 * write's own response. A status changed by hand is read at the next resync.
 */
export function updateNeedsReconcile(next: Channel, old: Channel | undefined): boolean {
  if (!old) return true;
  const [was, now] = [old.metadata, next.metadata];
  if (was.uid !== now.uid || was.generation !== now.generation || was.deletionTimestamp !== now.deletionTimestamp) {
    return true;
  }
  if (!isDeepStrictEqual(old.spec, next.spec)) return true;
  if (!isDeepStrictEqual(was.labels ?? {}, now.labels ?? {})) return true;
  if (!isDeepStrictEqual(was.annotations ?? {}, now.annotations ?? {})) return true;
  const before = was.finalizers ?? [];
  const after = now.finalizers ?? [];
  const oursAdded = !hasFinalizer(old) && isDeepStrictEqual([...before, FINALIZER], after);
  return !(oursAdded || isDeepStrictEqual(before, after));
}

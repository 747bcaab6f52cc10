/**
 * When does a channel end, and what is due before then? A pure policy over (channel facts, now), cert-manager style:
 * no I/O, the clock is an argument, so every boundary is a unit test.
 */
export type TeardownReason = 'Deleted' | 'CaseClosed' | 'TTLExpired';

export interface ExpiryInput {
  createdAt: Date;
  /** spec.ttl in ms, already parsed. */
  ttlMs: number;
  closed: boolean;
  deleting: boolean;
  /** Thresholds (ms before expiry) whose warning was already posted, from status. */
  warningsSent: readonly number[];
}

export interface ExpiryPolicy {
  /** The operator's --max-ttl: a channel never lives longer, whatever its spec says. */
  maxTtlMs: number;
  /** Warn this long before expiry (e.g. 1 h and 10 min). */
  warnBeforeMs: readonly number[];
  /** Longest sleep between reconciles of a healthy channel (picks up clock jumps; 1 h). */
  maxRequeueMs: number;
}

export type ExpiryDecision =
  | { action: 'teardown'; reason: TeardownReason; expiresAt: Date; message: string }
  | { action: 'keep'; expiresAt: Date; ttlCapped: boolean; warningsDue: number[]; requeueAfterMs: number };

export function expiresAt(input: Pick<ExpiryInput, 'createdAt' | 'ttlMs'>, policy: Pick<ExpiryPolicy, 'maxTtlMs'>) {
  return new Date(input.createdAt.getTime() + Math.min(input.ttlMs, policy.maxTtlMs));
}

export function decideExpiry(input: ExpiryInput, now: Date, policy: ExpiryPolicy): ExpiryDecision {
  const at = expiresAt(input, policy);
  if (input.deleting) {
    return { action: 'teardown', reason: 'Deleted', expiresAt: at, message: 'the IncidentChannel is being deleted' };
  }
  if (input.closed) {
    return {
      action: 'teardown',
      reason: 'CaseClosed',
      expiresAt: at,
      message: 'spec.closed is true: the case is closed',
    };
  }
  const left = at.getTime() - now.getTime();
  if (left <= 0) {
    return {
      action: 'teardown',
      reason: 'TTLExpired',
      expiresAt: at,
      message: `the TTL ran out at ${at.toISOString()}`,
    };
  }
  const warningsDue = policy.warnBeforeMs.filter((w) => left <= w && !input.warningsSent.includes(w));
  const nextWarning = policy.warnBeforeMs
    .filter((w) => left > w && !input.warningsSent.includes(w))
    .map((w) => left - w);
  return {
    action: 'keep',
    expiresAt: at,
    ttlCapped: input.ttlMs > policy.maxTtlMs,
    warningsDue,
    requeueAfterMs: Math.max(0, Math.min(left, policy.maxRequeueMs, ...nextWarning)),
  };
}

import type { KubeClient } from './client.ts';
import { isConflict, isNotFound } from './errors.ts';
import { type KubeObject, toMicroTime } from './objects.ts';
import { objectPath } from './resources.ts';

interface Lease extends KubeObject {
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => Date;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  onStartedLeading(): void;
  /** Called once when leadership is lost; the operator exits so a fresh process starts clean (client-go convention). */
  onStoppedLeading(): void;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease with optimistic concurrency (update carries resourceVersion) and
 * release on shutdown, so a rolling update hands over in one retry period rather than a whole lease duration.
 * Timings are cert-manager's (60 s lease, 40 s renew deadline, 15 s retry), not client-go's (15/10/2): a war-room
 * operator loses nothing by taking a minute to fail over after a crash, and the lease then costs 4 requests a minute
 * instead of 60. While leading, a renewal is one PUT on the lease we last wrote (no GET first); a conflict means
 * someone else wrote it, and the next round reads it again.
 */
export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectionOptions, 'log'>> & Pick<LeaderElectionOptions, 'log'>;
  #leading = false;
  #lastRenew = 0;
  /** The lease as our last successful write left it: while leading, the next renewal updates it without a GET. */
  #ours: Lease | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: LeaderElectionOptions) {
    this.#o = {
      leaseDurationSeconds: 60,
      renewDeadlineMs: 40_000,
      retryPeriodMs: 15_000,
      now: () => new Date(),
      ...opts,
    };
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  start(): void {
    const tick = async () => {
      if (this.#stopped) return;
      await this.#tryAcquireOrRenew();
      if (!this.#stopped) this.#timer = setTimeout(tick, this.#o.retryPeriodMs);
    };
    void tick();
  }

  /** Stops renewing and, if leading, releases the lease so another replica can take over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#get();
      if (lease?.spec.holderIdentity === this.#o.identity) {
        this.#ours = await this.#o.client.rest.request<Lease>('PUT', objectPath(this.#ref()), {
          body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } },
        });
      }
    } catch (err) {
      this.#o.log?.warn({ err: String(err) }, 'could not release the leader lease');
    }
  }

  #ref() {
    return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.#o.namespace, name: this.#o.name };
  }

  #get(): Promise<Lease | undefined> {
    return this.#o.client.get<Lease>(this.#ref());
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const now = this.#o.now();
    try {
      const lease = this.#leading && this.#ours ? this.#ours : await this.#get();
      if (!lease) {
        this.#ours = await this.#o.client.create<Lease>({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.#o.name, namespace: this.#o.namespace },
          spec: {
            holderIdentity: this.#o.identity,
            leaseDurationSeconds: this.#o.leaseDurationSeconds,
            acquireTime: toMicroTime(now),
            renewTime: toMicroTime(now),
            leaseTransitions: 0,
          },
        });
        return this.#renewed(now);
      }
      const holder = lease.spec.holderIdentity ?? '';
      const renewedAt = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
      const expiresAt = renewedAt + (lease.spec.leaseDurationSeconds ?? this.#o.leaseDurationSeconds) * 1000;
      if (holder && holder !== this.#o.identity && expiresAt > now.getTime()) return this.#notRenewed(now);
      const takingOver = holder !== this.#o.identity;
      this.#ours = await this.#o.client.rest.request<Lease>('PUT', objectPath(this.#ref()), {
        body: {
          ...lease,
          spec: {
            holderIdentity: this.#o.identity,
            leaseDurationSeconds: this.#o.leaseDurationSeconds,
            acquireTime: takingOver ? toMicroTime(now) : lease.spec.acquireTime,
            renewTime: toMicroTime(now),
            leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (takingOver ? 1 : 0),
          },
        },
      });
      this.#renewed(now);
    } catch (err) {
      this.#ours = undefined;
      if (!isConflict(err) && !isNotFound(err)) this.#o.log?.warn({ err: String(err) }, 'leader election round failed');
      this.#notRenewed(now);
    }
  }

  #renewed(now: Date): void {
    this.#lastRenew = now.getTime();
    if (!this.#leading) {
      this.#leading = true;
      this.#o.log?.info({ identity: this.#o.identity, lease: this.#o.name }, 'became leader');
      this.#o.onStartedLeading();
    }
  }

  #notRenewed(now: Date): void {
    if (this.#leading && now.getTime() - this.#lastRenew > this.#o.renewDeadlineMs) {
      this.#leading = false;
      this.#o.log?.warn({ identity: this.#o.identity }, 'lost leadership');
      this.#o.onStoppedLeading();
    }
  }
}

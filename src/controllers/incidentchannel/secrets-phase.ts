import { generateSecretMaterial, generateToken } from '../../crypto/secret-material.ts';
import { isConflict, isNotFound } from '../../kube/errors.ts';
import type { KubeObject } from '../../kube/objects.ts';
import type { SealingCertSource } from '../../kube/sealing-cert.ts';
import type { BuildContext } from './desired/context.ts';
import {
  liveKitCredentials,
  renderSecret,
  type SecretEntry,
  type SecretsMode,
  secretValues,
} from './desired/secrets.ts';
import { LABEL_CHANNEL, labelValue } from './names.ts';

export type SecretsOutcome =
  | { ok: true; created: string[]; total: number }
  | { ok: false; reason: 'SealedSecretsUnavailable'; message: string; retryAfterMs: number };

/** The two calls this phase makes; the KubeClient has them, and so does the unit tier's in-memory double. */
export interface SecretsClient {
  list(
    apiVersion: string,
    kind: string,
    opts: { namespace?: string; labelSelector?: string; signal?: AbortSignal },
  ): Promise<KubeObject[]>;
  create(obj: KubeObject, signal?: AbortSignal): Promise<KubeObject>;
}

/** What the reconciler needs of the secrets phase. */
export interface SecretsEnsurer {
  ensure(ctx: BuildContext, plan: SecretEntry[], signal?: AbortSignal): Promise<SecretsOutcome>;
  forget(channelUid: string): void;
}

/**
 * Generates each Secret's material once and creates it sealed (or plain with --secrets=plain). Never reads a
 * Secret (no secrets:get) and never re-seals an existing SealedSecret (that would rotate Synapse's keys): what
 * exists is left alone, what is missing is created with fresh material. Plaintext lives only in this call's memory.
 */
export class SecretsPhase implements SecretsEnsurer {
  readonly #client: SecretsClient;
  readonly #mode: SecretsMode;
  readonly #cert: SealingCertSource | undefined;
  /** `<channel uid>/<secret name>` already known to exist: an idle resync makes no call at all. */
  readonly #known = new Set<string>();

  constructor(opts: { client: SecretsClient; mode: SecretsMode; certSource?: SealingCertSource }) {
    this.#client = opts.client;
    this.#mode = opts.mode;
    this.#cert = opts.certSource;
  }

  forget(channelUid: string): void {
    for (const k of this.#known) if (k.startsWith(`${channelUid}/`)) this.#known.delete(k);
  }

  async ensure(ctx: BuildContext, plan: SecretEntry[], signal?: AbortSignal): Promise<SecretsOutcome> {
    const key = (e: SecretEntry) => `${ctx.channel.uid}/${e.name}`;
    let missing = plan.filter((e) => !this.#known.has(key(e)));
    if (missing.length === 0) return { ok: true, created: [], total: plan.length };

    if (this.#mode === 'sealed') {
      let existing: KubeObject[];
      try {
        existing = await this.#client.list('bitnami.com/v1alpha1', 'SealedSecret', {
          namespace: ctx.namespace,
          labelSelector: `${LABEL_CHANNEL}=${labelValue(ctx.channel.name)}`,
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        // A list in a namespace answers even when the namespace is empty: 404 means the kind itself is not served.
        // Retrying with backoff alone would say nothing but "404 page not found" in the operator's log.
        if (!isNotFound(err)) throw err;
        return {
          ok: false,
          reason: 'SealedSecretsUnavailable',
          message:
            'this cluster does not serve SealedSecrets (bitnami.com/v1alpha1): the sealed-secrets CRD is not installed. ' +
            'Install sealed-secrets (its controller and CRD), or run the operator with --secrets=plain',
          retryAfterMs: 300_000,
        };
      }
      const names = new Set(existing.map((s) => s.metadata.name));
      for (const e of missing) if (names.has(e.name)) this.#known.add(key(e));
      missing = missing.filter((e) => !names.has(e.name));
      if (missing.length === 0) return { ok: true, created: [], total: plan.length };
    }

    let cert: string | undefined;
    if (this.#mode === 'sealed') {
      try {
        cert = await this.#cert?.get(signal);
      } catch (err) {
        return {
          ok: false,
          reason: 'SealedSecretsUnavailable',
          message: (err as Error).message,
          retryAfterMs: 30_000,
        };
      }
      if (!cert) {
        return {
          ok: false,
          reason: 'SealedSecretsUnavailable',
          message: 'no sealing certificate source is configured; pass --sealing-cert or use --secrets=plain',
          retryAfterMs: 300_000,
        };
      }
    }

    const material = generateSecretMaterial(ctx.participants.map((p) => p.handle));
    const extra = { postgresPassword: generateToken(), liveKit: liveKitCredentials(() => generateToken()) };
    const created: string[] = [];
    await Promise.all(
      missing.map(async (entry) => {
        const obj = renderSecret(
          entry,
          secretValues(entry, material, extra),
          this.#mode,
          ctx.namespace,
          ctx.channel.name,
          cert,
        );
        try {
          await this.#client.create(obj, signal);
          created.push(entry.name);
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
        this.#known.add(key(entry));
      }),
    );
    created.sort();
    return { ok: true, created, total: plan.length };
  }
}

import { readFile } from 'node:fs/promises';
import type { KubeRest } from './rest.ts';

export interface SealingCertSource {
  /** The controller's public certificate (PEM). Throws an Error whose message tells a human what to fix. */
  get(signal?: AbortSignal): Promise<string>;
}

/**
 * The sealed-secrets controller's public certificate, the way kubeseal gets it: through the apiserver's service
 * proxy to the controller's `/v1/cert.pem` (or from a file given by flag). Cached, so a burst of channels costs one
 * fetch; a failure is not cached, so the next reconcile retries.
 */
export function sealingCertSource(
  rest: KubeRest,
  opts: { file?: string; namespace: string; service: string; port: string; ttlMs?: number },
): SealingCertSource {
  let cached: { pem: string; at: number } | undefined;
  const ttl = opts.ttlMs ?? 10 * 60_000;
  return {
    async get(signal?: AbortSignal) {
      if (cached && Date.now() - cached.at < ttl) return cached.pem;
      let pem: string;
      if (opts.file) {
        pem = await readFile(opts.file, 'utf8').catch((err: Error) => {
          throw new Error(`cannot read the sealing certificate file ${opts.file}: ${err.message}`);
        });
      } else {
        const path = `/api/v1/namespaces/${opts.namespace}/services/${opts.service}:${opts.port}/proxy/v1/cert.pem`;
        pem = await rest.getText(path, 10_000, signal).catch((err: Error) => {
          throw new Error(
            `the sealed-secrets controller is unreachable (service ${opts.namespace}/${opts.service}, port ${opts.port}): ` +
              `${err.message.slice(0, 300)}. Install it, point --sealed-secrets-service at it, pass --sealing-cert, ` +
              'or run with --secrets=plain on clusters without it',
          );
        });
      }
      cached = { pem, at: Date.now() };
      return pem;
    },
  };
}

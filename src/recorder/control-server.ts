import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.ts';
import type { HostPort } from './config.ts';
import type { RecorderMetrics } from './metrics.ts';
import type { RecorderStatus, SealResult } from './recorder.ts';

/**
 * The recorder's HTTP API. No authentication, by design of the deployment: the sidecar's ports are reachable only
 * from the operator's namespace (and Prometheus for the read-only port), enforced by the channel's NetworkPolicies
 * (allow-operator-to-recorder; default-deny otherwise). Nothing here returns a secret or a message body.
 *
 *   GET  /healthz  process up                    GET  /readyz  logged in, crypto ready, first catch-up done
 *   GET  /metrics  prom-client                   GET  /status  counts, head hash, rooms (JSON)
 *   POST /seal     catch up, completeness check, seal; 200 with the unsigned export tar (idempotent)
 *   POST /notices  {text} → an m.notice in #control, 202        GET /archive  the export after the seal (404 before)
 */

export interface ControlTarget {
  ready(): boolean;
  status(): RecorderStatus;
  seal(): Promise<SealResult>;
  archive(): Uint8Array | undefined;
  notice(text: string): Promise<string>;
}

export interface ControlServerOptions {
  target: ControlTarget;
  metrics: RecorderMetrics;
  log: Logger;
  /** Serve POST /seal, POST /notices and GET /archive on this server. */
  control: boolean;
}

const MAX_BODY = 64 * 1024;
const MAX_NOTICE = 4_000;

/** A JSON answer that no cache keeps (the recorder's servers answer live state). */
export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

export function createControlServer(options: ControlServerOptions): Server {
  const { target, metrics, log } = options;
  const tar = (res: ServerResponse, bytes: Uint8Array) => {
    res.writeHead(200, {
      'content-type': 'application/x-tar',
      'content-length': String(bytes.length),
      'content-disposition': 'attachment; filename="warroom-evidence-unsigned.tar"',
    });
    res.end(bytes);
  };

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void> | void> = {
    'GET /healthz': (_req, res) => json(res, 200, { ok: true }),
    'GET /readyz': (_req, res) => json(res, target.ready() ? 200 : 503, { ready: target.ready() }),
    'GET /status': (_req, res) => json(res, 200, target.status()),
    'GET /metrics': async (_req, res) => {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(body);
    },
  };
  if (options.control) {
    routes['POST /seal'] = async (_req, res) => {
      const { archive, recordedLate } = await target.seal();
      log.info({ bytes: archive.length, recordedLate }, 'export served');
      tar(res, archive);
    };
    routes['GET /archive'] = (_req, res) => {
      const archive = target.archive();
      if (!archive) return json(res, 404, { error: 'not sealed yet: POST /seal first' });
      tar(res, archive);
    };
    routes['POST /notices'] = async (req, res) => {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch (err) {
        return json(res, 400, { error: `body must be JSON {"text": "..."}: ${(err as Error).message}` });
      }
      const text = (body as { text?: unknown } | null)?.text;
      if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_NOTICE) {
        return json(res, 400, { error: `text must be a non-empty string of at most ${MAX_NOTICE} characters` });
      }
      try {
        const eventId = await target.notice(text);
        json(res, 202, { eventId });
      } catch (err) {
        json(res, 503, { error: `notice not sent: ${(err as Error).message}` });
      }
    };
  }

  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = routes[`${req.method} ${path}`];
    if (!route) {
      const known = Object.keys(routes).some((r) => r.endsWith(` ${path}`));
      return json(res, known ? 405 : 404, { error: known ? 'method not allowed' : 'not found' });
    }
    Promise.resolve()
      .then(() => route(req, res))
      .catch((err: unknown) => {
        log.error({ method: req.method, path, reason: (err as Error).message }, 'request failed');
        if (!res.headersSent) json(res, 500, { error: (err as Error).message });
        else res.destroy();
      });
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error(`body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function listen(server: Server, at: HostPort): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? `http://${at.host}:${address.port}` : String(address));
    });
  });
}

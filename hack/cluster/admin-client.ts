import { request } from 'node:https';

/**
 * The harness's own minimal HTTPS client for the apiserver: it only creates the fake node and polls readiness, and the
 * harness must not depend on the operator's Kubernetes client it exists to test.
 */
export class AdminClient {
  readonly server: string;
  readonly #ca: string;
  readonly #token: string;

  constructor(server: string, ca: string, token: string) {
    this.server = server;
    this.#ca = ca;
    this.#token = token;
  }

  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    const url = new URL(path, this.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: this.#ca,
          timeout: 10_000,
          headers: {
            authorization: `Bearer ${this.#token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            data += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  async getJson<T>(path: string): Promise<T | undefined> {
    const res = await this.call('GET', path);
    if (res.status === 404) return undefined;
    if (res.status >= 300) throw new Error(`GET ${path}: ${res.status} ${res.body}`);
    return JSON.parse(res.body) as T;
  }

  async create(path: string, body: unknown): Promise<void> {
    const res = await this.call('POST', path, body);
    if (res.status >= 300 && res.status !== 409) throw new Error(`POST ${path}: ${res.status} ${res.body}`);
  }
}

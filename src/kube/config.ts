// Where the apiserver is and how to prove who we are: kubeconfig files (token, token file, client certificate, basic
// auth, exec credential plugins) and the in-cluster service account. Ours rather than client-node's KubeConfig, whose
// module pulls in every generated API model (~75 MiB of RSS for the few fields read here).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** client-go re-reads a token file about every minute: projected tokens rotate underneath us. */
const TOKEN_FILE_TTL_MS = 60_000;
/** Certificate and CA files are re-read this often, so rotated ones are picked up without a restart. */
const TLS_FILES_TTL_MS = 10 * 60_000;
/** An exec credential is renewed this long before it expires. */
const EXEC_EXPIRY_MARGIN_MS = 30_000;
const EXEC_TIMEOUT_MS = 60_000;

/** What an undici Agent's `connect` takes; a new object whenever the material changed. */
export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface Credentials {
  headers: Record<string, string>;
  tls: TlsMaterial;
}

/** A connection to one apiserver: where it is, and fresh credentials for each request. */
export interface KubeConnection {
  readonly server: string;
  /** Where the configuration came from (a path or "in-cluster"), for messages. */
  readonly source: string;
  credentials(): Promise<Credentials>;
  /** The apiserver said 401: forget cached credentials, so the next request asks for new ones. */
  invalidate(): void;
}

const ExecEnv = z.object({ name: z.string(), value: z.string() });
const Exec = z.object({
  apiVersion: z.enum(['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']),
  command: z.string().min(1),
  args: z.array(z.string()).nullish(),
  env: z.array(ExecEnv).nullish(),
  provideClusterInfo: z.boolean().nullish(),
  interactiveMode: z.string().nullish(),
});
const Cluster = z.object({
  server: z.string().min(1),
  'certificate-authority': z.string().nullish(),
  'certificate-authority-data': z.string().nullish(),
  'insecure-skip-tls-verify': z.boolean().nullish(),
  'tls-server-name': z.string().nullish(),
  'proxy-url': z.string().nullish(),
});
const User = z.object({
  token: z.string().nullish(),
  tokenFile: z.string().nullish(),
  'client-certificate': z.string().nullish(),
  'client-certificate-data': z.string().nullish(),
  'client-key': z.string().nullish(),
  'client-key-data': z.string().nullish(),
  username: z.string().nullish(),
  password: z.string().nullish(),
  exec: Exec.nullish(),
  'auth-provider': z.object({ name: z.string() }).loose().nullish(),
});
const Context = z.object({ cluster: z.string(), user: z.string().nullish() });
const Kubeconfig = z.object({
  'current-context': z.string().nullish(),
  clusters: z.array(z.object({ name: z.string(), cluster: Cluster.nullish() })).nullish(),
  users: z.array(z.object({ name: z.string(), user: User.nullish() })).nullish(),
  contexts: z.array(z.object({ name: z.string(), context: Context.nullish() })).nullish(),
});
type ClusterEntry = z.infer<typeof Cluster> & { base: string };
type UserEntry = z.infer<typeof User> & { base: string };
type ExecConfig = z.infer<typeof Exec>;

/**
 * Finds credentials the way kubectl does — an explicit path, then $KUBECONFIG (merged, first file wins), then
 * ~/.kube/config, then the in-cluster service account — and fails with a clear message when there are none or the
 * file is not usable (no silent fallback to http://localhost:8080).
 */
export function loadKubeConfig(
  path?: string,
  env: NodeJS.ProcessEnv = process.env,
  serviceAccountDir = SERVICE_ACCOUNT_DIR,
): KubeConnection {
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  if (path) return fromFiles([path]);
  if (env.KUBECONFIG) return fromFiles(env.KUBECONFIG.split(delimiter).filter(Boolean));
  if (existsSync(home)) return fromFiles([home]);
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(serviceAccountDir, 'token'))) {
    return inCluster(env, serviceAccountDir);
  }
  throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
}

function inCluster(env: NodeJS.ProcessEnv, dir: string): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Connection(
    server,
    'in-cluster',
    { server, 'certificate-authority': join(dir, 'ca.crt'), base: dir },
    { tokenFile: join(dir, 'token'), base: dir },
  );
}

function fromFiles(paths: string[]): KubeConnection {
  const clusters = new Map<string, ClusterEntry>();
  const users = new Map<string, UserEntry>();
  const contexts = new Map<string, { cluster: string; user?: string | null }>();
  let current: string | undefined;
  for (const file of paths) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      // kubectl skips missing files in a KUBECONFIG list, but an explicit single path must exist.
      if (paths.length > 1 && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new Error(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
    }
    const parsed = Kubeconfig.safeParse(parseYaml(text) ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`kubeconfig ${file} is not valid: ${issue?.path.join('.')}: ${issue?.message}`);
    }
    const base = dirname(file);
    const doc = parsed.data;
    current ||= doc['current-context'] ?? undefined;
    for (const c of doc.clusters ?? [])
      if (c.cluster && !clusters.has(c.name)) clusters.set(c.name, { ...c.cluster, base });
    for (const u of doc.users ?? []) if (u.user && !users.has(u.name)) users.set(u.name, { ...u.user, base });
    for (const c of doc.contexts ?? []) if (c.context && !contexts.has(c.name)) contexts.set(c.name, c.context);
  }
  const source = paths.join(delimiter);
  if (!current) throw new Error(`kubeconfig ${source} has no current-context`);
  const context = contexts.get(current);
  if (!context) throw new Error(`kubeconfig ${source}: context "${current}" is not defined`);
  const cluster = clusters.get(context.cluster);
  if (!cluster) throw new Error(`kubeconfig ${source}: cluster "${context.cluster}" is not defined`);
  const user = context.user ? users.get(context.user) : undefined;
  if (context.user && !user) throw new Error(`kubeconfig ${source}: user "${context.user}" is not defined`);
  if (cluster['proxy-url']) throw new Error(`kubeconfig ${source}: proxy-url is not supported`);
  if (user?.['auth-provider']) {
    throw new Error(
      `kubeconfig ${source}: auth-provider "${user['auth-provider'].name}" is not supported (removed from kubectl ` +
        'too): use an exec credential plugin such as kubelogin',
    );
  }
  return new Connection(cluster.server.replace(/\/$/, ''), source, cluster, user);
}

const resolveFrom = (base: string, file: string) => (isAbsolute(file) ? file : join(base, file));
const fromBase64 = (data: string) => Buffer.from(data, 'base64').toString('utf8');

class Connection implements KubeConnection {
  readonly server: string;
  readonly source: string;
  readonly #cluster: ClusterEntry;
  readonly #user: UserEntry | undefined;
  #tls: { value: TlsMaterial; at: number } | undefined;
  #token: { value: string; at: number } | undefined;
  #exec: { token?: string; cert?: string; key?: string; until: number } | undefined;
  #execRunning: Promise<void> | undefined;

  constructor(server: string, source: string, cluster: ClusterEntry, user: UserEntry | undefined) {
    this.server = server;
    this.source = source;
    this.#cluster = cluster;
    this.#user = user;
    if (user?.['client-certificate'] || user?.['client-certificate-data']) {
      if (!user['client-key'] && !user['client-key-data']) {
        throw new Error(`kubeconfig ${source}: a client certificate without a client key`);
      }
    }
    this.#readTls(); // fail now, not at the first request, if a file is missing
  }

  invalidate(): void {
    this.#token = undefined;
    this.#exec = undefined;
  }

  async credentials(): Promise<Credentials> {
    const user = this.#user;
    const headers: Record<string, string> = {};
    if (user?.exec) {
      if (!this.#exec || Date.now() >= this.#exec.until) {
        this.#execRunning ??= this.#runExec(user.exec).finally(() => {
          this.#execRunning = undefined;
        });
        await this.#execRunning;
      }
    }
    const token = this.#exec?.token ?? user?.token ?? (user?.tokenFile ? this.#readToken(user) : undefined);
    if (token) headers.authorization = `Bearer ${token}`;
    else if (user?.username && user.password !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    }
    return { headers, tls: this.#currentTls() };
  }

  #readToken(user: UserEntry): string {
    const now = Date.now();
    if (!this.#token || now - this.#token.at > TOKEN_FILE_TTL_MS) {
      const file = resolveFrom(user.base, user.tokenFile ?? '');
      this.#token = { value: readFileSync(file, 'utf8').trim(), at: now };
    }
    return this.#token.value;
  }

  #currentTls(): TlsMaterial {
    const now = Date.now();
    if (!this.#tls || now - this.#tls.at > TLS_FILES_TTL_MS) this.#readTls();
    const tls = this.#tls?.value ?? { rejectUnauthorized: true };
    if (this.#exec?.cert && this.#exec.key && (tls.cert !== this.#exec.cert || tls.key !== this.#exec.key)) {
      // A client certificate from the exec plugin: a new object, so the HTTP layer makes a new connection pool.
      const value = { ...tls, cert: this.#exec.cert, key: this.#exec.key };
      this.#tls = { value, at: this.#tls?.at ?? now };
      return value;
    }
    return tls;
  }

  #readTls(): void {
    const c = this.#cluster;
    const u = this.#user;
    const read = (data: string | null | undefined, file: string | null | undefined, base: string) =>
      data ? fromBase64(data) : file ? readFileSync(resolveFrom(base, file), 'utf8') : undefined;
    const next: TlsMaterial = { rejectUnauthorized: c['insecure-skip-tls-verify'] !== true };
    const ca = read(c['certificate-authority-data'], c['certificate-authority'], c.base);
    if (ca) next.ca = ca;
    if (c['tls-server-name']) next.servername = c['tls-server-name'];
    const cert = u && read(u['client-certificate-data'], u['client-certificate'], u.base);
    const key = u && read(u['client-key-data'], u['client-key'], u.base);
    if (cert && key) {
      next.cert = cert;
      next.key = key;
    }
    const old = this.#tls?.value;
    const same =
      old &&
      old.ca === next.ca &&
      old.cert === next.cert &&
      old.key === next.key &&
      old.rejectUnauthorized === next.rejectUnauthorized &&
      old.servername === next.servername;
    this.#tls = { value: same ? old : next, at: Date.now() };
  }

  /** Runs the plugin the way client-go does: ExecCredential in KUBERNETES_EXEC_INFO, ExecCredential JSON out. */
  async #runExec(exec: ExecConfig): Promise<void> {
    const base = this.#user?.base ?? '.';
    const command = exec.command.includes('/') && !isAbsolute(exec.command) ? join(base, exec.command) : exec.command;
    const c = this.#cluster;
    const info = {
      apiVersion: exec.apiVersion,
      kind: 'ExecCredential',
      spec: {
        interactive: false,
        ...(exec.provideClusterInfo
          ? {
              cluster: {
                server: this.server,
                ...(this.#tls?.value.ca
                  ? { 'certificate-authority-data': Buffer.from(this.#tls.value.ca).toString('base64') }
                  : {}),
                ...(c['insecure-skip-tls-verify'] ? { 'insecure-skip-tls-verify': true } : {}),
                ...(c['tls-server-name'] ? { 'tls-server-name': c['tls-server-name'] } : {}),
              },
            }
          : {}),
      },
    };
    const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        command,
        exec.args ?? [],
        { env, timeout: EXEC_TIMEOUT_MS, maxBuffer: 1 << 20, cwd: base },
        (err, out, stderr) => {
          // Never the plugin's stdout in an error: it may hold a token.
          if (err)
            reject(
              new Error(
                `exec credential plugin ${exec.command} failed: ${err.message.split('\n')[0]}; ${String(stderr).slice(0, 500)}`,
              ),
            );
          else resolve(String(out));
        },
      );
    });
    let status: {
      token?: unknown;
      clientCertificateData?: unknown;
      clientKeyData?: unknown;
      expirationTimestamp?: unknown;
    };
    try {
      status = (JSON.parse(stdout) as { status?: typeof status }).status ?? {};
    } catch {
      throw new Error(`exec credential plugin ${exec.command} did not print an ExecCredential (JSON)`);
    }
    const token = typeof status.token === 'string' && status.token ? status.token : undefined;
    const cert = typeof status.clientCertificateData === 'string' ? status.clientCertificateData : undefined;
    const key = typeof status.clientKeyData === 'string' ? status.clientKeyData : undefined;
    if (!token && !(cert && key)) {
      throw new Error(
        `exec credential plugin ${exec.command} returned neither a token nor a client certificate and key`,
      );
    }
    const expires =
      typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : Number.NaN;
    this.#exec = {
      ...(token ? { token } : {}),
      ...(cert && key ? { cert, key } : {}),
      until: Number.isNaN(expires) ? Number.POSITIVE_INFINITY : expires - EXEC_EXPIRY_MARGIN_MS,
    };
  }
}

// Every way src/kube/config.ts authenticates, against the real apiserver: who the apiserver thinks we are
// (SelfSubjectReview) for a token, a token file, a client certificate (signed by the cluster through a real
// CertificateSigningRequest; inline and as files), exec plugins returning a token or a certificate, and the in-cluster
// service account. Plus the clear errors for what is not supported.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { URL } from 'node:url';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { KubeRest } from '../../src/kube/rest.ts';
import { useCluster } from '../cluster/index.ts';
import { eventually, kubectl } from '../support/kubectl.ts';

const run = promisify(execFile);
const cluster = useCluster();
const k = () => kubectl(cluster());
let dir: string;
let saToken: string;
let saUser: string;
let cert: { user: string; certPem: string; keyPem: string };

async function whoami(rest: KubeRest): Promise<string | undefined> {
  const review = await rest.request<{ status?: { userInfo?: { username?: string } } }>(
    'POST',
    '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
  );
  return review.status?.userInfo?.username;
}

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown>): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'test',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'test', context: { cluster: 'c', user: 'u' } }],
  });
}

async function writeConfig(name: string, user: Record<string, unknown>): Promise<string> {
  const c = cluster();
  const path = join(dir, `${name}.kubeconfig`);
  await writeFile(
    path,
    kubeconfig(user, { server: c.server, 'certificate-authority-data': Buffer.from(c.caPem).toString('base64') }),
  );
  return path;
}

/** A client certificate the cluster signs through a CertificateSigningRequest (kube-apiserver-client signer). */
async function clientCertificate(user: string): Promise<{ certPem: string; keyPem: string }> {
  const key = join(dir, `${user}.key`);
  const csr = join(dir, `${user}.csr`);
  await run(
    'openssl',
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${user}`,
    ]),
  );
  const name = `auth-modes-${user}`;
  await k().apply({
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name },
    spec: {
      request: (await readFile(csr)).toString('base64'),
      signerName: 'kubernetes.io/kube-apiserver-client',
      usages: ['client auth'],
      expirationSeconds: 3600,
    },
  });
  await k().exec(['certificate', 'approve', name]);
  const signed = await eventually(
    'CSR signed',
    async () => (await k().getJson<{ status?: { certificate?: string } }>(['csr', name]))?.status?.certificate,
    60_000,
  );
  return { certPem: Buffer.from(signed, 'base64').toString('utf8'), keyPem: await readFile(key, 'utf8') };
}

/** An exec credential plugin: prints `credential` as an ExecCredential and notes each run (and what it was told). */
async function plugin(name: string, credential: Record<string, string>): Promise<{ path: string; log: string }> {
  const path = join(dir, `${name}.mjs`);
  const log = join(dir, `${name}.runs`);
  await writeFile(
    path,
    [
      "import { appendFileSync } from 'node:fs';",
      `appendFileSync(${JSON.stringify(log)}, process.env.KUBERNETES_EXEC_INFO + '\\n');`,
      `const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);`,
      `console.log(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: ${JSON.stringify(credential)} }));`,
    ].join('\n'),
  );
  return { path, log };
}

before(async () => {
  await cluster.ready();
  dir = await mkdtemp(join(tmpdir(), 'warroom-auth-modes-'));
  const ns = `auth-${randomBytes(3).toString('hex')}`;
  await k().exec(['create', 'namespace', ns]);
  await k().exec(['create', 'serviceaccount', 'reader', '-n', ns]);
  saToken = (await k().exec(['create', 'token', 'reader', '-n', ns, '--duration=1h'])).trim();
  saUser = `system:serviceaccount:${ns}:reader`;
  const user = `cert-user-${randomBytes(3).toString('hex')}`;
  cert = { user, ...(await clientCertificate(user)) };
});

test('bearer token in the kubeconfig', async () => {
  const rest = new KubeRest(loadKubeConfig(await writeConfig('token', { token: saToken })));
  assert.equal(await whoami(rest), saUser);
});

test('token file, relative to the kubeconfig, re-read rather than copied', async () => {
  await writeFile(join(dir, 'sa.token'), `${saToken}\n`);
  const rest = new KubeRest(loadKubeConfig(await writeConfig('tokenfile', { tokenFile: 'sa.token' })));
  assert.equal(await whoami(rest), saUser);
});

test('client certificate and key: inline data, and files relative to the kubeconfig', async () => {
  const inline = await writeConfig('cert-inline', {
    'client-certificate-data': Buffer.from(cert.certPem).toString('base64'),
    'client-key-data': Buffer.from(cert.keyPem).toString('base64'),
  });
  assert.equal(await whoami(new KubeRest(loadKubeConfig(inline))), cert.user);
  await writeFile(join(dir, 'client.crt'), cert.certPem);
  await writeFile(join(dir, 'client.key'), cert.keyPem);
  const files = await writeConfig('cert-files', { 'client-certificate': 'client.crt', 'client-key': 'client.key' });
  assert.equal(await whoami(new KubeRest(loadKubeConfig(files))), cert.user);
});

test('exec plugin with a token: run once while valid, told the cluster when provideClusterInfo is set', async () => {
  const expires = new Date(Date.now() + 3_600_000).toISOString();
  const p = await plugin('exec-token', { token: saToken, expirationTimestamp: expires });
  const path = await writeConfig('exec-token', {
    exec: {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: process.execPath,
      args: [p.path],
      provideClusterInfo: true,
      interactiveMode: 'Never',
    },
  });
  const rest = new KubeRest(loadKubeConfig(path));
  assert.equal(await whoami(rest), saUser);
  assert.equal(await whoami(rest), saUser);
  const runs = (await readFile(p.log, 'utf8')).trim().split('\n');
  assert.equal(runs.length, 1, 'a credential that has not expired is reused');
  const info = JSON.parse(runs[0] ?? '{}');
  assert.equal(info.kind, 'ExecCredential');
  assert.equal(info.spec.interactive, false);
  assert.equal(info.spec.cluster.server, cluster().server);
});

test('exec plugin with a client certificate (v1beta1), and an expired credential is asked for again', async () => {
  const p = await plugin('exec-cert', {
    clientCertificateData: cert.certPem,
    clientKeyData: cert.keyPem,
    expirationTimestamp: new Date(Date.now() - 1000).toISOString(),
  });
  const path = await writeConfig('exec-cert', {
    exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: process.execPath, args: [p.path] },
  });
  const rest = new KubeRest(loadKubeConfig(path));
  assert.equal(await whoami(rest), cert.user);
  assert.equal(await whoami(rest), cert.user);
  assert.equal((await readFile(p.log, 'utf8')).trim().split('\n').length, 2);
});

test('in-cluster: the service account token and CA from their directory, the server from the environment', async () => {
  const sa = await mkdtemp(join(dir, 'sa-'));
  await writeFile(join(sa, 'token'), saToken);
  await writeFile(join(sa, 'ca.crt'), cluster().caPem);
  const server = new URL(cluster().server);
  const env = { KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port, HOME: dir };
  const conn = loadKubeConfig(undefined, env, sa);
  assert.equal(conn.source, 'in-cluster');
  assert.equal(await whoami(new KubeRest(conn)), saUser);
});

test('clear errors: no configuration, a missing context or user, an auth-provider, a failing plugin', async () => {
  assert.throws(() => loadKubeConfig(undefined, { HOME: dir }, join(dir, 'none')), /no Kubernetes cluster configured/);
  const c = cluster();
  const noContext = join(dir, 'nocontext.kubeconfig');
  await writeFile(
    noContext,
    kubeconfig({ token: 'x' }, { server: c.server }).replace('current-context: test', 'current-context: other'),
  );
  assert.throws(() => loadKubeConfig(noContext), /context "other" is not defined/);
  const provider = await writeConfig('provider', { 'auth-provider': { name: 'oidc', config: {} } });
  assert.throws(() => loadKubeConfig(provider), /auth-provider "oidc" is not supported.*exec credential plugin/);
  const failing = await writeConfig('failing', {
    exec: { apiVersion: 'client.authentication.k8s.io/v1', command: join(dir, 'no-such-plugin') },
  });
  await assert.rejects(whoami(new KubeRest(loadKubeConfig(failing))), /exec credential plugin .*no-such-plugin failed/);
});

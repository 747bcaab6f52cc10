import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.ts';

export interface ClientCert {
  cert: string;
  key: string;
}

/**
 * A client certificate (ECDSA P-256, 7 days) signed by the cluster CA for one of the node's agents: the apiserver maps
 * CN to the user and O to its groups, so the kubelet is `system:node:<name>` in `system:nodes` (what the Node
 * authorizer and NodeRestriction expect) and kube-proxy is `system:kube-proxy` (bound to system:node-proxier by default).
 * A random serial rather than the CA's serial file, so certificates can be issued in parallel.
 */
export async function issueClientCert(
  dir: string,
  ca: { cert: string; key: string },
  file: string,
  user: string,
  groups: string[] = [],
): Promise<ClientCert> {
  const key = join(dir, `${file}.key`);
  const csr = join(dir, `${file}.csr`);
  const cert = join(dir, `${file}.crt`);
  const ext = join(dir, `${file}.ext`);
  const subject = `${groups.map((g) => `/O=${g}`).join('')}/CN=${user}`;
  await writeFile(ext, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-new', ...ec, '-keyout', key, '-out', csr, '-subj', subject]);
  await run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-set_serial',
      `0x${randomBytes(12).toString('hex')}`,
    ].concat(['-out', cert, '-days', '7', '-extfile', ext]),
  );
  return { cert, key };
}

/** A kubeconfig that authenticates with a client certificate (paths, so no key material is copied around). */
export async function writeCertKubeconfig(
  path: string,
  server: string,
  caFile: string,
  client: ClientCert,
  user: string,
): Promise<void> {
  const ca = (await readFile(caFile)).toString('base64');
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: warroom-local',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate: ${client.cert}`,
    `    client-key: ${client.key}`,
    'contexts:',
    '- name: warroom-local',
    '  context:',
    '    cluster: warroom-local',
    `    user: ${user}`,
    'current-context: warroom-local',
    '',
  ].join('\n');
  await writeFile(path, text, { mode: 0o600 });
}

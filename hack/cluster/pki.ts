import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function openssl(cwd: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd });
}

export interface ClusterPki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  saKey: string;
  saPub: string;
  /** Client cert the apiserver presents to kubelets (a real node needs it for logs/exec). */
  kubeletClientCert: string;
  kubeletClientKey: string;
}

/** A throwaway CA (ECDSA P-256), a serving cert for 127.0.0.1/localhost, and a service-account signing key pair. */
export async function createPki(dir: string): Promise<ClusterPki> {
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(
    dir,
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7'].concat([
      '-subj',
      '/CN=warroom-local-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ]),
  );
  await writeFile(
    p('serving.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n' +
      'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n',
  );
  await issue(dir, 'serving', '/CN=kube-apiserver', 'serving.ext');
  await writeFile(p('client.ext'), 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  await issue(dir, 'kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'client.ext');
  await openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key']);
  await openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    servingCert: p('serving.crt'),
    servingKey: p('serving.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
    kubeletClientCert: p('kubelet-client.crt'),
    kubeletClientKey: p('kubelet-client.key'),
  };
}

async function issue(dir: string, name: string, subject: string, extFile: string): Promise<void> {
  await openssl(
    dir,
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      subject,
    ]),
  );
  await openssl(
    dir,
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-out',
      `${name}.crt`,
      '-days',
      '7',
      '-extfile',
      extFile,
    ]),
  );
}

// RFC 3161 peers for the evidence tests: a throw-away root → intermediate → leaf chain made with openssl, sigstore's
// timestamp-server (pinned, built by hack/cluster/build-binaries.sh) serving it on loopback without NTP monitoring,
// and openssl itself acting as a second, foreign TSA.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBinaries } from '../../hack/cluster/binaries.ts';
import { freeTcpPort } from './matrix-ports.ts';
import { type PeerProcess, startPeerProcess, waitUntil } from './matrix-process.ts';

const run = promisify(execFile);
const openssl = (args: string[], cwd: string) => run('openssl', args, { cwd });

export interface TsaChain {
  dir: string;
  rootPem: string;
  /** intermediate + root, as the server's --certificate-chain-path wants (leaf first). */
  chainPem: string;
  leafPem: string;
  leafKey: string;
  intermediatePem: string;
}

const EXT = `[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
extendedKeyUsage = timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_no_eku]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_noncritical_eku]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = timeStamping, serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** The leaf's extended key usage: RFC 3161's (critical, timeStamping alone), none, or a non-critical mix. */
export type LeafEku = 'timestamping' | 'none' | 'noncritical';
const LEAF_SECTION: Record<LeafEku, string> = {
  timestamping: 'leaf',
  none: 'leaf_no_eku',
  noncritical: 'leaf_noncritical_eku',
};

/** A fresh ECDSA P-256 chain under `dir`, named `name` (subjects say it, so failures name the TSA). */
export async function makeTsaChain(dir: string, name: string, opts: { leafEku?: LeafEku } = {}): Promise<TsaChain> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ext.cnf'), EXT);
  const key = (file: string) => openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file], dir);
  await key('root.key');
  await key('intermediate.key');
  await key('leaf.key');
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'root.key',
      '-subj',
      `/O=warroom test/CN=${name} root`,
      '-days',
      '3650',
      '-sha256',
      '-config',
      'ext.cnf',
      '-extensions',
      'root',
      '-out',
      'root.pem',
    ],
    dir,
  );
  const issue = async (cert: string, keyFile: string, cn: string, ca: string, caKey: string, ext: string) => {
    await openssl(['req', '-new', '-key', keyFile, '-subj', `/O=warroom test/CN=${cn}`, '-out', `${cert}.csr`], dir);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${cert}.csr`,
        '-CA',
        ca,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-days',
        '3650',
        '-sha256',
        '-extfile',
        'ext.cnf',
        '-extensions',
        ext,
        '-out',
        `${cert}.pem`,
      ],
      dir,
    );
  };
  await issue('intermediate', 'intermediate.key', `${name} intermediate`, 'root.pem', 'root.key', 'intermediate');
  await issue(
    'leaf',
    'leaf.key',
    `${name} timestamping`,
    'intermediate.pem',
    'intermediate.key',
    LEAF_SECTION[opts.leafEku ?? 'timestamping'],
  );
  const [leaf, intermediate, root] = await Promise.all(
    ['leaf.pem', 'intermediate.pem', 'root.pem'].map((f) => readFile(join(dir, f), 'utf8')),
  );
  await writeFile(join(dir, 'chain.pem'), `${leaf}${intermediate}${root}`);
  await writeFile(join(dir, 'ca-chain.pem'), `${intermediate}${root}`);
  return {
    dir,
    rootPem: join(dir, 'root.pem'),
    chainPem: join(dir, 'chain.pem'),
    leafPem: join(dir, 'leaf.pem'),
    leafKey: join(dir, 'leaf.key'),
    intermediatePem: join(dir, 'intermediate.pem'),
  };
}

export interface TimestampServer {
  /** The RFC 3161 endpoint. */
  url: string;
  chain: TsaChain;
  process: PeerProcess;
  stop(): Promise<void>;
}

/** sigstore's timestamp-server on 127.0.0.1 with the file signer of `chain`, NTP monitoring off. */
export async function startTimestampServer(chain: TsaChain): Promise<TimestampServer> {
  // WARROOM_TIMESTAMP_SERVER: an already built binary (skips the build script, which waits on the shared build lock).
  const bin = process.env.WARROOM_TIMESTAMP_SERVER || (await ensureBinaries(['timestamp-server']))['timestamp-server'];
  const port = await freeTcpPort();
  // timestamp-server always serves its metrics on :2112 (no flag moves it), so two on one machine cannot both run:
  // test files that need one take turns on a machine-wide lock, held by the server process itself (flock --no-fork).
  const proc = startPeerProcess(
    'flock',
    [
      '--no-fork',
      '/run/lock/warroom-timestamp-server.lock',
      bin,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--timestamp-signer',
      'file',
      '--file-signer-key-path',
      chain.leafKey,
      '--certificate-chain-path',
      chain.chainPem,
      '--include-chain-in-response',
      // On by default, and it queries public NTP servers.
      '--disable-ntp-monitoring',
      '--log-type',
      'prod',
    ],
    // HOME: the server looks for a config file there; keep it in the test's directory.
    { cwd: chain.dir, env: { PATH: process.env.PATH ?? '', HOME: chain.dir } },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(
    'timestamp-server',
    async () => (await fetch(`${base}/ping`, { signal: AbortSignal.timeout(1_000) })).ok,
    proc,
    // Includes waiting for another test file's timestamp-server to stop (see the lock above).
    300_000,
  );
  return { url: `${base}/api/v1/timestamp`, chain, process: proc, stop: () => proc.stop(5_000) };
}

/** openssl as a TSA of its own chain: a token over `dataFile` (written to `out`), for "another TSA" checks. */
export async function opensslTimestamp(chain: TsaChain, dataFile: string, out: string): Promise<void> {
  const cnf = join(chain.dir, 'tsa.cnf');
  await writeFile(
    cnf,
    `[tsa]
default_tsa = tsa_config
[tsa_config]
serial = ${join(chain.dir, 'tsaserial')}
signer_digest = sha256
default_policy = 1.3.6.1.4.1.57264.2
digests = sha256
ess_cert_id_alg = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
`,
  );
  await writeFile(join(chain.dir, 'tsaserial'), '01\n');
  const query = `${out}.tsq`;
  await openssl(['ts', '-query', '-sha256', '-data', dataFile, '-cert', '-out', query], chain.dir);
  await openssl(
    [
      'ts',
      '-reply',
      '-config',
      cnf,
      '-queryfile',
      query,
      '-signer',
      chain.leafPem,
      '-inkey',
      chain.leafKey,
      '-chain',
      join(chain.dir, 'ca-chain.pem'),
      '-token_out',
      '-out',
      out,
    ],
    chain.dir,
  );
}

/** `openssl ts -verify` of a token file over a data file against a root: resolves to openssl's verdict line. */
export async function opensslVerify(token: string, data: string, rootPem: string): Promise<string> {
  try {
    const { stdout } = await run('openssl', [
      'ts',
      '-verify',
      '-in',
      token,
      '-token_in',
      '-data',
      data,
      '-CAfile',
      rootPem,
    ]);
    return stdout.trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.trim();
  }
}

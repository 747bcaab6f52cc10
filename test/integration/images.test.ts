// The local images, built here without a Docker engine (hack/images/build.ts): every archive exists and carries its
// tag, and a private containerd imports them under those tags (as the real node does); each image's config runs as
// the uid its pod spec uses; and the images really run. Node 24 in the operator image, whose production dependencies
// load every entrypoint; Synapse, coturn, Postgres and the Element stand-in run their pod spec's own command (or
// entrypoint) with its env, mounts and uid, become ready, and write nothing outside their volumes (so a read-only
// root is enough); the controller answers; pause, as PID 1, reaps an orphan and exits 0 on SIGTERM. A second
// ensureImages() hits the cache. Needs no cluster; the first run builds everything (minutes), later ones seconds.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../hack/cluster/processes.ts';
import {
  type BuiltImage,
  ensureImages,
  ensureInStorage,
  IMAGE_NAMES,
  PAUSE_IMAGE_REF,
} from '../../hack/images/build.ts';
import { synapseVersion } from '../../hack/images/recipes.ts';
import { COTURN_UID } from '../../src/controllers/incidentchannel/desired/coturn.ts';
import { ELEMENT_UID } from '../../src/controllers/incidentchannel/desired/element.ts';
import { POSTGRES_CONNECTION, POSTGRES_UID } from '../../src/controllers/incidentchannel/desired/postgres.ts';
import { PROVISIONER_UID } from '../../src/controllers/incidentchannel/desired/provisioner-job.ts';
import { SYNAPSE_UID } from '../../src/controllers/incidentchannel/desired/synapse.ts';
import { coturnStartCommand, renderTurnserverConf } from '../../src/matrix/config/coturn.ts';
import {
  renderHomeserverYaml,
  renderSynapseLogYaml,
  SYNAPSE_CONFIG_FILES,
  SYNAPSE_SECRET_FILES,
  synapseCommandArgs,
} from '../../src/matrix/config/synapse.ts';

const exec = promisify(execFile);

/** What `buildah run` itself leaves in a container's layer (/run/.containerenv's directory). */
const BUILDAH_RUN_ARTIFACTS = ['/run'];
const root = fileURLToPath(new URL('../../', import.meta.url));

/** What each image's config must say: the uid:gid its pod spec runs it as (runAsUser/runAsGroup). */
const EXPECTED_USER: Record<string, string> = {
  // The operator's Deployment (the chart) and its provisioner Job both run the operator image as 65532.
  operator: `${PROVISIONER_UID}:${PROVISIONER_UID}`,
  synapse: `${SYNAPSE_UID}:${SYNAPSE_UID}`,
  coturn: `${COTURN_UID}:${COTURN_UID}`,
  element: `${ELEMENT_UID}:${ELEMENT_UID}`,
  postgres: `${POSTGRES_UID}:${POSTGRES_UID}`,
  // As upstream's image.
  'sealed-secrets-controller': '1001:1001',
  pause: '65535:65535',
};

let images: Record<string, BuiltImage>;

/** Runs argv in a throwaway working container of `ref` as `user` (chroot isolation), and removes the container. */
async function runIn(
  image: BuiltImage,
  user: string,
  argv: string[],
  env: Record<string, string> = {},
): Promise<string> {
  await ensureInStorage(image);
  const { stdout: id } = await exec('buildah', ['from', '--quiet', '--pull=never', image.ref]);
  const container = id.trim();
  try {
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    const { stdout, stderr } = await exec(
      'buildah',
      ['run', '--isolation', 'chroot', '--user', user, ...envArgs, container, '--', ...argv],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout + stderr;
  } finally {
    await exec('buildah', ['rm', container]);
  }
}

async function imageConfig(image: BuiltImage): Promise<{ User?: string; Entrypoint?: string[]; Cmd?: string[] }> {
  await ensureInStorage(image);
  const { stdout } = await exec('buildah', ['inspect', '--type', 'image', image.ref], { maxBuffer: 16 * 1024 * 1024 });
  return (JSON.parse(stdout) as { OCIv1: { config: { User?: string; Entrypoint?: string[]; Cmd?: string[] } } }).OCIv1
    .config;
}

/** The tags a docker-archive registers on import: manifest.json's RepoTags. */
async function archiveTags(archive: string): Promise<string[]> {
  const { stdout } = await exec('tar', ['-xOf', archive, 'manifest.json'], { maxBuffer: 1024 * 1024 });
  const manifest = JSON.parse(stdout) as { RepoTags?: string[] }[];
  assert.equal(manifest.length, 1, `${archive} holds one image`);
  return manifest[0]?.RepoTags ?? [];
}

describe('local images (buildah, no Docker engine)', () => {
  before(async () => {
    const started = performance.now();
    images = await ensureImages();
    const built = Object.entries(images).filter(([, i]) => i.built);
    process.stderr.write(
      `[images.test] ensureImages ${((performance.now() - started) / 1000).toFixed(1)} s; built: ${
        built.map(([n, i]) => `${n} ${i.seconds.toFixed(1)} s`).join(', ') || 'nothing (cache hit)'
      }\n`,
    );
  });

  test('every image has an archive whose manifest carries its ref (and the pause image the kubelet default)', async () => {
    assert.deepEqual(Object.keys(images).sort(), [...IMAGE_NAMES].sort());
    for (const [name, image] of Object.entries(images)) {
      assert.match(image.ref, new RegExp(`^localhost/warroom/${name}:[0-9a-f]{12}$`));
      assert.equal(image.ref.split(':')[1], image.inputsHash.slice(0, 12));
      const tags = await archiveTags(image.archive);
      assert.ok(tags.includes(image.ref), `${image.archive} tags ${tags.join(', ')} lack ${image.ref}`);
      assert.ok(image.bytes > 0);
    }
    assert.ok((await archiveTags(images.pause!.archive)).includes(PAUSE_IMAGE_REF));
  });

  test('a second ensureImages() is a cache hit: nothing whose inputs are unchanged is rebuilt', async () => {
    const again = await ensureImages();
    for (const [name, image] of Object.entries(again)) {
      // The operator's inputs are the working tree's src/: an engineer saving a file in between changes them.
      if (name === 'operator' && image.inputsHash !== images[name]?.inputsHash) continue;
      assert.equal(image.inputsHash, images[name]?.inputsHash, `${name}'s inputs changed`);
      assert.equal(image.built, false, `${name} was rebuilt`);
      assert.equal(image.ref, images[name]?.ref);
    }
  });

  test('each image runs as the non-root uid:gid its pod spec uses', async () => {
    for (const [name, user] of Object.entries(EXPECTED_USER)) {
      assert.equal((await imageConfig(images[name]!)).User, user, name);
    }
  });

  test('node24 base and operator: Node 24 from the devDependency; the operator image has no npm', async () => {
    const pkg = JSON.parse(await readFile(`${root}node_modules/node/package.json`, 'utf8')) as { version: string };
    assert.equal((await runIn(images.node24!, '1000:1000', ['node', '--version'])).trim(), `v${pkg.version}`);
    const operator = images.operator!;
    assert.equal((await runIn(operator, '65532:65532', ['node', '--version'])).trim(), `v${pkg.version}`);
    const probe = await runIn(operator, '65532:65532', [
      'node',
      '-e',
      "const fs=require('node:fs');console.log(fs.existsSync('/usr/local/bin/npm'),fs.existsSync('/app/node_modules/fastify'),fs.existsSync('/app/dist/main.js'),fs.existsSync('/app/src'))",
    ]);
    assert.equal(probe.trim(), 'false true true false');
    assert.deepEqual((await imageConfig(operator)).Entrypoint, ['node', 'dist/main.js']);
    // main.ts loads only the chosen entrypoint's modules: importing each entrypoint's module graph proves the
    // production dependencies alone resolve it all (no devDependency imported at run time), without a cluster.
    const loaded = await runIn(operator, '65532:65532', [
      '/bin/sh',
      '-c',
      'node dist/main.js no-such-entrypoint; echo "exit=$?"',
    ]);
    assert.match(loaded, /unknown entrypoint "no-such-entrypoint"/);
    assert.match(loaded, /exit=2/);
    const modules = [
      'dist/config.js',
      'dist/operator.js',
      'dist/http/server.js',
      'dist/recorder/main.js',
      'dist/matrix/provisioner-main.js',
      'dist/rtc/main.js',
      'dist/cli/main.js',
    ];
    const imported = await runIn(operator, '65532:65532', [
      'node',
      '--input-type=module',
      '-e',
      `${modules.map((f) => `await import('/app/${f}');`).join(' ')} console.log('imported')`,
    ]);
    assert.match(imported, /^imported$/m);
  });

  test('synapse: the pod spec command `python -m synapse.app.homeserver` resolves to the pinned Synapse', async () => {
    const version = await synapseVersion(root);
    const out = await runIn(images.synapse!, EXPECTED_USER.synapse!, [
      'python',
      '-c',
      'import synapse, psycopg2, synapse.app.homeserver; print(synapse.__version__)',
    ]);
    assert.equal(out.trim().split('\n').at(-1), version);
    // The pgpass init container's command.
    assert.match(await runIn(images.synapse!, EXPECTED_USER.synapse!, ['install', '--version']), /coreutils/);
  });

  test('synapse boots from the image with the pod spec command, as 991, writing nothing to its root filesystem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warroom-images-synapse-'));
    try {
      // The pod's volumes: config (ConfigMap, 0444), secrets (Secret, 0440 group 991 via fsGroup), data (PVC), /tmp.
      const host = await volumeDirs(dir, ['config', 'secrets', 'data', 'tmp'], 991);
      const port = await freePort();
      await writeFile(
        join(host.config!, SYNAPSE_CONFIG_FILES.homeserver),
        renderHomeserverYaml({
          serverName: 'images.test',
          publicBaseUrl: `http://127.0.0.1:${port}/`,
          turnUris: [],
          database: { kind: 'sqlite' },
          aliasCreators: ['@admin:images.test'],
          ports: { client: port, metrics: await freePort() },
          bindAddresses: ['127.0.0.1'],
        }),
      );
      await writeFile(join(host.config!, SYNAPSE_CONFIG_FILES.log), renderSynapseLogYaml());
      const secretValue = () => randomBytes(32).toString('base64url');
      await writeSecrets(
        host.secrets!,
        {
          [SYNAPSE_SECRET_FILES.registrationSharedSecret]: secretValue(),
          [SYNAPSE_SECRET_FILES.macaroonSecretKey]: secretValue(),
          [SYNAPSE_SECRET_FILES.formSecret]: secretValue(),
          [SYNAPSE_SECRET_FILES.turnSharedSecret]: secretValue(),
          [SYNAPSE_SECRET_FILES.signingKey]: `ed25519 a_test ${randomBytes(32).toString('base64').replace(/=+$/, '')}`,
        },
        991,
      );
      const written = await serveFromImage({
        image: images.synapse!,
        user: EXPECTED_USER.synapse!,
        volumes: [
          [host.config!, '/config', 'ro'],
          [host.secrets!, '/secrets', 'ro'],
          [host.data!, '/data', 'rw'],
          [host.tmp!, '/tmp', 'rw'],
        ],
        command: ['python', ...synapseCommandArgs()],
        ready: async () =>
          (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) })).status === 200,
        stopFile: [host.data!, '/data'],
      });
      assert.deepEqual(written, [], 'Synapse wrote outside its volumes');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('coturn starts from the image with the pod spec command, as 65534, writing nothing to its root filesystem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warroom-images-coturn-'));
    try {
      const host = await volumeDirs(dir, ['template', 'secret', 'runtime', 'var-tmp', 'state'], 65534);
      const port = await freePort();
      const relay = 40000 + Math.floor(Math.random() * 20000);
      await writeFile(
        join(host.template!, 'turnserver.conf'),
        renderTurnserverConf({
          realm: 'images.test',
          listeningPort: port,
          listeningIps: ['127.0.0.1'],
          relayIp: '127.0.0.1',
          minPort: relay,
          maxPort: relay + 4,
        }),
      );
      await writeSecrets(host.secret!, { turn_shared_secret: randomBytes(32).toString('base64url') }, 65534);
      const written = await serveFromImage({
        image: images.coturn!,
        user: EXPECTED_USER.coturn!,
        // The pod spec's mounts (src/controllers/incidentchannel/desired/coturn.ts).
        volumes: [
          [host.template!, '/etc/coturn/template', 'ro'],
          [host.secret!, '/run/secrets/turn', 'ro'],
          [host.runtime!, '/run/coturn', 'rw'],
          [host['var-tmp']!, '/var/tmp', 'rw'],
          [host.state!, '/var/lib/coturn', 'rw'],
        ],
        command: coturnStartCommand({
          templatePath: '/etc/coturn/template/turnserver.conf',
          secretPath: '/run/secrets/turn/turn_shared_secret',
          runtimeConfigPath: '/run/coturn/turnserver.conf',
        }),
        ready: () => tcpAccepts(port),
        stopFile: [host['var-tmp']!, '/var/tmp'],
      });
      assert.deepEqual(written, [], 'coturn wrote outside its volumes');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('postgres initialises and serves from its entrypoint with the pod spec env, as 999, writing nothing', async () => {
    const image = images.postgres!;
    const dir = await mkdtemp(join(tmpdir(), 'warroom-images-postgres-'));
    try {
      const host = await volumeDirs(dir, ['data', 'credentials', 'run', 'tmp'], POSTGRES_UID);
      const password = randomBytes(24).toString('base64url');
      await writeSecrets(host.credentials!, { password }, POSTGRES_UID);
      const port = await freePort();
      const config = await imageConfig(image);
      const { user, database } = POSTGRES_CONNECTION;
      const written = await serveFromImage({
        image,
        user: EXPECTED_USER.postgres!,
        // The pod spec's env and mounts (src/controllers/incidentchannel/desired/postgres.ts); its entrypoint, with
        // a free port so the test does not take 5432 on this machine.
        env: {
          POSTGRES_USER: user,
          POSTGRES_DB: database,
          POSTGRES_PASSWORD_FILE: '/run/secrets/postgres/password',
          POSTGRES_INITDB_ARGS: '--encoding=UTF8 --locale=C',
          PGDATA: '/var/lib/postgresql/pgdata',
        },
        volumes: [
          [host.data!, '/var/lib/postgresql', 'rw'],
          [host.credentials!, '/run/secrets/postgres', 'ro'],
          [host.run!, '/var/run/postgresql', 'rw'],
          [host.tmp!, '/tmp', 'rw'],
        ],
        // Loopback only: the test's server is reachable from nowhere else (a later -c wins over the entrypoint's).
        command: [
          ...(config.Entrypoint ?? []),
          ...(config.Cmd ?? []),
          '-p',
          String(port),
          '-c',
          'listen_addresses=127.0.0.1',
        ],
        ready: async () => {
          if (!(await tcpAccepts(port))) return false;
          // Password auth over TCP as Synapse connects, into the database the entrypoint created, collation C.
          const out = await runIn(
            image,
            EXPECTED_USER.postgres!,
            [
              'psql',
              '-tA',
              `host=127.0.0.1 port=${port} user=${user} dbname=${database} sslmode=disable`,
              '-c',
              `SELECT datcollate FROM pg_database WHERE datname = '${database}'`,
            ],
            { PGPASSWORD: password },
          );
          assert.equal(out.trim(), 'C');
          return true;
        },
        stopFile: [host.tmp!, '/tmp'],
      });
      assert.deepEqual(written, [], 'postgres wrote outside its volumes');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('coturn: /bin/sh, cat and turnserver 4.6.1 for the pod spec shell snippet', async () => {
    const out = await runIn(images.coturn!, EXPECTED_USER.coturn!, [
      '/bin/sh',
      '-c',
      'command -v cat && turnserver --version',
    ]);
    assert.match(out, /\/cat\n[\s\S]*4\.6\.1/);
  });

  test('sealed-secrets controller: `controller` on PATH, the pinned version', async () => {
    assert.match(
      await runIn(images['sealed-secrets-controller']!, '1001:1001', ['controller', '--version']),
      /v0\.36\.0/,
    );
  });

  test('containerd imports the archives with their tags (a private containerd, as the real node runs one)', async (t) => {
    const containerd = await exec('sh', ['-c', 'command -v containerd && command -v ctr']).catch(() => undefined);
    if (!containerd) {
      t.skip('containerd is not installed (bash hack/peers/real-node.sh installs it)');
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'warroom-images-ctd-'));
    const address = join(dir, 'containerd.sock');
    const config = [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      `[grpc]\n  address = "${address}"`,
      `[ttrpc]\n  address = "${dir}/ttrpc.sock"`,
      '[debug]\n  address = ""',
      '[metrics]\n  address = ""',
    ].join('\n');
    await writeFile(join(dir, 'config.toml'), `${config}\n`);
    const daemon = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'containerd', '-c', join(dir, 'config.toml')], {
      stdio: 'ignore',
    });
    const stopped = new Promise((resolve) => daemon.on('exit', resolve));
    try {
      const ctr = (...args: string[]) =>
        exec('ctr', ['--address', address, '-n', 'k8s.io', ...args], { timeout: 120_000 });
      let ready = false;
      for (let i = 0; i < 50 && !ready; i++) {
        ready = await ctr('version').then(
          () => true,
          () => false,
        );
        if (!ready) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(ready, 'private containerd did not start');
      const small = ['pause', 'element', 'sealed-secrets-controller', 'coturn'];
      for (const name of small) await ctr('images', 'import', images[name]!.archive);
      const listed = (await ctr('images', 'ls', '-q')).stdout.trim().split('\n');
      for (const name of small) assert.ok(listed.includes(images[name]!.ref), `${images[name]!.ref} not in ${listed}`);
      assert.ok(listed.includes(PAUSE_IMAGE_REF));
    } finally {
      daemon.kill('SIGTERM');
      await stopped;
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('pause', () => {
    let child: ChildProcess | undefined;
    after(() => child?.kill('SIGKILL'));

    test('as PID 1 it reaps an orphan and exits 0 on SIGTERM', async () => {
      const image = images.pause!;
      const { stdout: id } = await exec('buildah', ['from', '--quiet', '--pull=never', image.ref]);
      const container = id.trim();
      try {
        const { stdout: mnt } = await exec('buildah', ['mount', container]);
        const pause = `${mnt.trim()}/pause`;
        assert.equal((await exec(pause, ['--version'])).stdout.trim(), 'warroom-pause 1');
        // A new PID namespace: pause is its PID 1, as in a pod sandbox.
        child = spawn('unshare', ['--pid', '--fork', '--kill-child', pause], { stdio: 'ignore' });
        const pid1 = await childPidOf(child.pid!);
        // An orphan inside the namespace: sh starts `sleep` and exits, so `sleep` is reparented to pause.
        await exec('nsenter', ['--target', String(pid1), '--pid', '--', 'sh', '-c', 'sleep 0.3 & exit 0']);
        await new Promise((r) => setTimeout(r, 1500));
        const zombies = await zombieChildrenOf(pid1);
        assert.deepEqual(zombies, [], 'pause left zombies');
        const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
        process.kill(pid1, 'SIGTERM');
        assert.equal(await exited, 0);
        child = undefined;
      } finally {
        await exec('buildah', ['umount', container]).catch(() => undefined);
        await exec('buildah', ['rm', container]);
      }
    });
  });

  test('element stand-in: its entrypoint serves the mounted config.json and a stand-in page, as 101, writing nothing', async () => {
    const image = images.element!;
    const dir = await mkdtemp(join(tmpdir(), 'warroom-images-element-'));
    try {
      const host = await volumeDirs(dir, ['conf', 'tmp', 'cache', 'nginx-conf'], 101);
      const generated = { default_server_config: { 'm.homeserver': { base_url: 'https://matrix.images.test' } } };
      await writeFile(join(host.conf!, 'config.json'), JSON.stringify(generated));
      const port = await freePort();
      let config: unknown;
      let page = '';
      const written = await serveFromImage({
        image,
        user: EXPECTED_USER.element!,
        // busybox httpd takes [IP:]PORT: loopback only, so the test's server is reachable from nowhere else.
        env: { ELEMENT_WEB_PORT: `127.0.0.1:${port}` },
        // The pod spec's mounts (src/controllers/incidentchannel/desired/element.ts); config.json by subPath.
        volumes: [
          [join(host.conf!, 'config.json'), '/app/config.json', 'ro'],
          [host['nginx-conf']!, '/etc/nginx/conf.d', 'rw'],
          [host.tmp!, '/tmp', 'rw'],
          [host.cache!, '/var/cache/nginx', 'rw'],
        ],
        // No command in the pod spec: the image's own entrypoint.
        command: (await imageConfig(image)).Entrypoint ?? [],
        bound: ['/bin/busybox', 'timeout', '60'],
        ready: async () => {
          const r = await fetch(`http://127.0.0.1:${port}/config.json`, { signal: AbortSignal.timeout(2000) });
          assert.equal(r.status, 200);
          assert.match(r.headers.get('content-type') ?? '', /application\/json/);
          config = await r.json();
          page = await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) })).text();
          return true;
        },
        stopFile: [host.tmp!, '/tmp'],
      });
      assert.deepEqual(config, generated);
      assert.match(page, /stand-in/);
      assert.deepEqual(written, [], 'the stand-in wrote outside its volumes');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** The first child of `pid` (unshare's forked PID 1), waiting briefly for it to appear. */
async function childPidOf(pid: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    const first = Number.parseInt(children.trim().split(/\s+/)[0] ?? '', 10);
    if (Number.isInteger(first) && first > 0) return first;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no child of ${pid}`);
}

async function zombieChildrenOf(pid: number): Promise<number[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim();
  const zombies: number[] = [];
  for (const child of children ? children.split(/\s+/).map(Number) : []) {
    const status = await readFile(`/proc/${child}/status`, 'utf8').catch(() => '');
    if (/^State:\s+Z/m.test(status)) zombies.push(child);
  }
  return zombies;
}

/** Host directories standing in for a pod's volumes, readable by `uid` (as fsGroup makes them). */
async function volumeDirs(dir: string, names: string[], uid: number): Promise<Record<string, string>> {
  const host: Record<string, string> = {};
  for (const name of names) {
    host[name] = join(dir, name);
    await mkdir(host[name], { recursive: true });
    await chown(host[name], uid, uid);
    await chmod(host[name], 0o770);
  }
  return host;
}

/** Secret files as a Secret volume under fsGroup mounts them: 0440, group `gid`, a trailing newline. */
async function writeSecrets(dir: string, files: Record<string, string>, gid: number): Promise<void> {
  for (const [file, value] of Object.entries(files)) {
    await writeFile(join(dir, file), `${value}\n`, { mode: 0o440 });
    await chown(join(dir, file), 0, gid);
  }
}

async function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

interface ServeOptions {
  image: BuiltImage;
  user: string;
  volumes: [host: string, container: string, mode: 'ro' | 'rw'][];
  /** The pod spec's command, run unchanged under a stop switch. */
  command: string[];
  ready: () => Promise<boolean>;
  /** A writable volume (host path, container path) where the test drops the stop switch. */
  stopFile: [string, string];
  env?: Record<string, string>;
  /** What bounds the run inside the image (coreutils `timeout` unless the image has only busybox). */
  bound?: string[];
}

/**
 * Runs an image's pod command as its pod would (its uid, its volumes, host network on loopback), waits until `ready`,
 * stops it, and returns what it wrote to the container's own layer: the paths a read-only root filesystem would
 * refuse (what `buildah run` itself leaves there is left out). Bounded: `timeout` in the image ends it regardless.
 */
async function serveFromImage(options: ServeOptions): Promise<string[]> {
  await ensureInStorage(options.image);
  const { stdout: id } = await exec('buildah', ['from', '--quiet', '--pull=never', options.image.ref]);
  const container = id.trim();
  let boot: ChildProcess | undefined;
  try {
    const quoted = options.command.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const stop = `${options.stopFile[1]}/.stop`;
    const wrapper = `${quoted} & pid=$!; while [ ! -e ${stop} ] && kill -0 $pid 2>/dev/null; do sleep 0.2; done; kill -TERM $pid 2>/dev/null; wait $pid`;
    const volumeArgs = options.volumes.flatMap(([h, c, mode]) => ['--volume', `${h}:${c}:${mode}`]);
    const envArgs = Object.entries(options.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    let output = '';
    boot = spawn(
      'buildah',
      [
        'run',
        '--isolation',
        'chroot',
        '--user',
        options.user,
        ...volumeArgs,
        ...envArgs,
        container,
        '--',
        ...(options.bound ?? ['timeout', '180']),
        '/bin/sh',
        '-c',
        wrapper,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    boot.stdout?.on('data', (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    });
    boot.stderr?.on('data', (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    });
    const exited = new Promise<void>((resolve) => boot!.on('exit', () => resolve()));
    let ready = false;
    const deadline = Date.now() + 120_000;
    while (!ready && Date.now() < deadline && boot.exitCode === null) {
      ready = await options.ready().catch(() => false);
      if (!ready) await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(ready, `${options.image.ref} never became ready:\n${output.slice(-3000)}`);
    await writeFile(join(options.stopFile[0], '.stop'), '');
    await exited;
    boot = undefined;

    const { stdout: mounted } = await exec('buildah', ['mount', container]);
    const upperDir = join(mounted.trim(), '..', 'diff');
    return (await exec('find', [upperDir, '-mindepth', '1'])).stdout
      .split('\n')
      .filter(Boolean)
      .map((f) => f.slice(upperDir.length))
      .filter((f) => !BUILDAH_RUN_ARTIFACTS.some((a) => f === a || f.startsWith(`${a}/`)));
  } finally {
    boot?.kill('SIGKILL');
    await exec('buildah', ['umount', container]).catch(() => undefined);
    await exec('buildah', ['rm', container]);
  }
}

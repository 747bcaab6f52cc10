// The kind node image for offline mode, built locally (no registry image can be pulled) and cached by a hash of its
// inputs like hack/images: the project's debootstrap'd Debian base + Debian's systemd/containerd/runc/iptables, kind
// v0.33.0's own base files (read from its Go module), CNI plugins and crictl built from pinned modules, kubeadm/kubelet/
// kubectl v1.34.1, a plain ptp CNI (no kindnet image exists offline), CoreDNS without a forwarder, an egress guard,
// and every image kubeadm and kind's storage need, imported into the node's containerd under the names they ask for.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Component, ensureBinaries } from '../cluster/binaries.ts';
import { cacheDir } from '../cluster/cache-dir.ts';
import { ensureImages } from '../images/build.ts';
import { hashInputs, type Input, treeInputs } from '../images/inputs-hash.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
export const KIND_VERSION = 'v0.33.0';
export const KUBERNETES_VERSION = 'v1.34.1';
/** Names kubeadm v1.34.1 asks for (`kubeadm config images list --kubernetes-version v1.34.1`). */
const KUBEADM_IMAGES = {
  etcd: 'registry.k8s.io/etcd:3.6.4-0',
  coredns: 'registry.k8s.io/coredns/coredns:v1.12.1',
  pause: ['registry.k8s.io/pause:3.10.1', 'registry.k8s.io/pause:3.10'],
};
/** The node image's repository in the offline engine; the tag is the inputs hash. */
export const NODE_IMAGE_REPOSITORY = 'localhost/warroom/kind-node';
/** kube-router for the network-policy DaemonSet (a test peer): built into the node image's containerd too. */
export const KUBE_ROUTER_IMAGE = 'localhost/warroom/kube-router:v2.1.0';
/** Bump when the way the node image is assembled changes. */
const RECIPE = 'k1';

export interface NodeImage {
  ref: string;
  built: boolean;
  seconds: number;
}

type Docker = (args: string[], opts?: { input?: string; cwd?: string }) => Promise<string>;

/** `docker` against the given engine, its output in the log file; a failure carries the log's tail. */
export function dockerCli(env: NodeJS.ProcessEnv, logFile: string): Docker {
  return (args, opts = {}) =>
    new Promise((resolve, reject) => {
      const log = createWriteStream(logFile, { flags: 'a' });
      log.write(`\n$ docker ${args.join(' ')}\n`);
      const child = spawn('docker', args, { env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        log.write(d);
      });
      child.stderr.on('data', (d: Buffer) => {
        err = (err + d.toString()).slice(-8000);
        log.write(d);
      });
      child.stdin.end(opts.input ?? '');
      child.on('error', reject);
      child.on('close', (code) => {
        log.end();
        if (code === 0) resolve(out);
        else reject(new Error(`docker ${args.slice(0, 3).join(' ')}… exited ${code} (log: ${logFile}):\n${err}`));
      });
    });
}

/** The kind Go module's directory (downloaded by the kind build). */
async function kindModuleDir(): Promise<string> {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('go', ['mod', 'download', '-json', `sigs.k8s.io/kind@${KIND_VERSION}`], {
      env: { ...process.env, GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let s = '';
    child.stdout.on('data', (d: Buffer) => {
      s += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`go mod download kind exited ${code}`))));
  });
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir) throw new Error('go mod download gave no directory for kind');
  return dir;
}

/**
 * kind's storage manifest (local-path-provisioner) and the two image names it uses, from kind's own source
 * (pkg/build/nodeimage/const_storage.go), so the node runs exactly what `kind build node-image` would install.
 */
export async function kindStorage(
  moduleDir: string,
): Promise<{ manifest: string; provisioner: string; helper: string }> {
  const src = await readFile(join(moduleDir, 'pkg/build/nodeimage/const_storage.go'), 'utf8');
  const constant = (name: string) => {
    const m = new RegExp(`const ${name} = "([^"]+)"`).exec(src);
    if (!m?.[1]) throw new Error(`const_storage.go has no ${name}`);
    return m[1];
  };
  const provisioner = constant('storageProvisionerImage');
  const helper = constant('storageHelperImage');
  const body = /const defaultStorageManifest = `([\s\S]*?)`\n/.exec(
    src.replaceAll('` + storageProvisionerImage + `', provisioner).replaceAll('` + storageHelperImage + `', helper),
  )?.[1];
  if (!body) throw new Error('const_storage.go has no defaultStorageManifest');
  return { manifest: body, provisioner, helper };
}

/** Everything the node image is built from: changing any of it gives a new tag. */
async function nodeInputs(
  moduleDir: string,
  bins: Record<string, string>,
  images: { base: string; pause: string },
): Promise<Input[]> {
  return [
    { key: '@recipe', value: RECIPE },
    { key: 'kind', value: KIND_VERSION },
    { key: 'kubernetes', value: KUBERNETES_VERSION },
    // A binary by path, size and mtime: its cache dir names version and recipe, a rebuild changes the other two.
    ...(await Promise.all(
      Object.entries(bins).map(async ([k, v]) => {
        const info = await stat(existsSync(v) ? v : dirname(v));
        return { key: `bin:${k}`, value: `${v}:${info.size}:${info.mtimeMs}` };
      }),
    )),
    { key: 'image:base', value: images.base },
    { key: 'image:pause', value: images.pause },
    ...(await treeInputs(HERE, 'node')),
    { key: 'node.Dockerfile', file: join(HERE, 'node.Dockerfile') },
    ...(await treeInputs(moduleDir, 'images/base/files')),
    { key: 'node-image.ts', file: fileURLToPath(import.meta.url) },
  ];
}

/**
 * Returns the offline node image, building it when its inputs changed. `env` points docker at the offline engine.
 */
export async function ensureNodeImage(env: NodeJS.ProcessEnv, log: (m: string) => void): Promise<NodeImage> {
  const t0 = performance.now();
  const bins = await ensureBinaries([
    'kubeadm',
    'kubelet',
    'kubectl',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kube-proxy',
    'coredns',
    'crictl',
    'cni-plugins',
    'etcd-kubeadm',
    'local-path-provisioner',
    'kube-router',
  ]);
  const images = await ensureImages(['base', 'pause']);
  const moduleDir = await kindModuleDir();
  const hash = await hashInputs(
    await nodeInputs(moduleDir, bins, { base: images.base.inputsHash, pause: images.pause.inputsHash }),
  );
  const ref = `${NODE_IMAGE_REPOSITORY}:${hash.slice(0, 12)}`;
  const logDir = cacheDir('kind', 'logs');
  await mkdir(logDir, { recursive: true });
  const logFile = join(logDir, `node-image-${hash.slice(0, 12)}.log`);
  const docker = dockerCli(env, logFile);
  const present = await docker(['image', 'inspect', '--format', '{{.Id}}', ref]).then(
    () => true,
    () => false,
  );
  if (present) return { ref, built: false, seconds: (performance.now() - t0) / 1000 };

  log(`building the kind node image ${ref} (log: ${logFile})`);
  const work = await mkdtemp(join(cacheDir('kind'), 'node-build-'));
  const builder = `warroom-kind-node-build-${process.pid}`;
  try {
    const baseRef = await loadArchive(docker, images.base.archive, images.base.ref);
    await loadArchive(docker, images.pause.archive, images.pause.ref);
    const storage = await kindStorage(moduleDir);
    const binDir = (c: Component) => dirname(bins[c]);

    // 1. The node's root filesystem.
    const ctx = join(work, 'rootfs');
    await cp(join(moduleDir, 'images/base/files'), join(ctx, 'files'), { recursive: true });
    await cp(join(HERE, 'node'), join(ctx, 'node'), { recursive: true });
    await copyFile(join(HERE, 'node.Dockerfile'), join(ctx, 'Dockerfile'));
    await mkdir(join(ctx, 'bin'));
    for (const c of ['kubeadm', 'kubelet', 'kubectl', 'crictl'] as const) await copyFile(bins[c], join(ctx, 'bin', c));
    await cp(binDir('cni-plugins'), join(ctx, 'cni'), { recursive: true });
    await mkdir(join(ctx, 'node/kind/manifests'), { recursive: true });
    await writeFile(join(ctx, 'node/kind/version'), `${KUBERNETES_VERSION}\n`);
    await writeFile(join(ctx, 'node/kind/manifests/default-storage.yaml'), storage.manifest);
    await chmod(join(ctx, 'files'), 0o755);
    const rootfsRef = `${NODE_IMAGE_REPOSITORY}-rootfs:${hash.slice(0, 12)}`;
    await docker(['build', '--network', 'host', '--build-arg', `BASE=${baseRef}`, '-t', rootfsRef, ctx]);

    // 2. The images the node runs before anything is loaded: control plane, kube-proxy, CoreDNS, pause, storage,
    //    kube-router. Static binaries go into FROM-scratch images; the ones that exec iptables/ipset onto the base.
    const tags: string[] = [];
    const scratch = async (name: string, binary: string, tag: string, entrypoint?: string) => {
      const dir = join(work, `img-${name}`);
      await mkdir(dir, { recursive: true });
      await copyFile(binary, join(dir, name));
      const lines = [
        'FROM scratch',
        `COPY ${name} /usr/local/bin/${name}`,
        'ENV PATH=/usr/local/bin:/usr/bin:/bin',
        ...(entrypoint ? [`ENTRYPOINT ["${entrypoint}"]`] : []),
      ];
      await writeFile(join(dir, 'Dockerfile'), `${lines.join('\n')}\n`);
      await docker(['build', '-t', tag, dir]);
      tags.push(tag);
    };
    for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const) {
      await scratch(c, bins[c], `registry.k8s.io/${c}:${KUBERNETES_VERSION}`);
    }
    await scratch('etcd', join(binDir('etcd-kubeadm'), 'etcd'), KUBEADM_IMAGES.etcd);
    await scratch('coredns', bins.coredns as string, KUBEADM_IMAGES.coredns, '/usr/local/bin/coredns');
    await scratch(
      'local-path-provisioner',
      bins['local-path-provisioner'] as string,
      storage.provisioner,
      '/usr/local/bin/local-path-provisioner',
    );
    // kube-proxy and kube-router run iptables/ipset/conntrack: the node's own rootfs has them all.
    for (const [name, tag] of [
      ['kube-proxy', `registry.k8s.io/kube-proxy:${KUBERNETES_VERSION}`],
      ['kube-router', KUBE_ROUTER_IMAGE],
    ] as const) {
      const dir = join(work, `img-${name}`);
      await mkdir(dir, { recursive: true });
      await copyFile(bins[name] as string, join(dir, name));
      await writeFile(
        join(dir, 'Dockerfile'),
        `FROM ${rootfsRef}\nCOPY ${name} /usr/local/bin/${name}\nENTRYPOINT ["/usr/local/bin/${name}"]\n`,
      );
      await docker(['build', '-t', tag, dir]);
      tags.push(tag);
    }
    // The storage helper pod runs sh/mkdir/rm: the Debian base has them.
    await docker(['tag', baseRef, storage.helper]);
    tags.push(storage.helper);
    for (const t of KUBEADM_IMAGES.pause) {
      await docker(['tag', images.pause.ref, t]);
      tags.push(t);
    }
    const bundle = join(work, 'images.tar');
    await docker(['save', '-o', bundle, ...tags]);

    // 3. Import them into the node's containerd (as `kind build node-image` does) and commit the result.
    await docker(['rm', '-f', builder]).catch(() => '');
    await docker(['run', '-d', '--name', builder, '--privileged', '--entrypoint', 'sleep', rootfsRef, 'infinity']);
    await docker(['cp', bundle, `${builder}:/images.tar`]);
    await docker([
      'exec',
      builder,
      'bash',
      '-c',
      'set -e; containerd >/tmp/containerd.log 2>&1 & pid=$!; ' +
        'for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && break; sleep 0.5; done; ' +
        'ctr -n k8s.io images import --no-unpack --all-platforms /images.tar; ' +
        'ctr -n k8s.io images ls -q | sort; kill $pid; wait $pid || true; rm -f /images.tar /tmp/containerd.log',
    ]);
    await docker([
      'commit',
      '--change',
      'ENTRYPOINT ["/usr/local/bin/warroom-egress-guard", "/usr/local/bin/entrypoint", "/sbin/init"]',
      '--change',
      'CMD []',
      builder,
      ref,
    ]);
    const seconds = (performance.now() - t0) / 1000;
    log(`built the kind node image ${ref} in ${seconds.toFixed(1)} s`);
    return { ref, built: true, seconds };
  } finally {
    await docker(['rm', '-f', builder]).catch(() => '');
    await rm(work, { recursive: true, force: true });
  }
}

/** Loads a hack/images docker-archive into the engine (once) and returns the ref it carries. */
async function loadArchive(docker: Docker, archive: string, ref: string): Promise<string> {
  const present = await docker(['image', 'inspect', '--format', '{{.Id}}', ref]).then(
    () => true,
    () => false,
  );
  if (!present) await docker(['load', '-i', archive]);
  return ref;
}

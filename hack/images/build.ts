// Builds the local container images without a Docker engine (buildah --isolation chroot, skopeo), cached outside the
// repository by a hash of their inputs, each exported as a docker-archive tar that `ctr -n k8s.io images import` loads
// with its tag. `node hack/images/build.ts [name ...]` (or `npm run images`) builds and prints a table.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../cluster/cache-dir.ts';
import { run, succeeds, withFileLock } from './exec.ts';
import { hashInputs } from './inputs-hash.ts';
import { IMAGE_NAMES, type ImageName, PAUSE_IMAGE_REF, RECIPES, RUNTIME_IMAGES } from './recipes.ts';

export { IMAGE_NAMES, type ImageName, PAUSE_IMAGE_REF, RUNTIME_IMAGES };

export interface BuiltImage {
  /** e.g. localhost/warroom/synapse:<hash12>: the tag pods use (imagePullPolicy Never/IfNotPresent). */
  ref: string;
  /** Other names inside the archive (the pause image: registry.k8s.io/pause:3.10). */
  extraTags: string[];
  /** docker-archive tar holding the image and its tags: `ctr -n k8s.io images import <archive>`. */
  archive: string;
  bytes: number;
  inputsHash: string;
  /** false: a cache hit, nothing was built. */
  built: boolean;
  seconds: number;
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Bump when the way images are built changes (not their inputs), so no cache built the old way is reused. */
const RECIPE_VERSION = 'r2';
/** Archives kept per image, most recently used first; older ones are deleted with their storage tags. */
const KEEP_PER_IMAGE = 3;
const LOCK_WAIT_SECONDS = 3600;

export function imagesCacheDir(): string {
  return cacheDir('images');
}

interface Metadata {
  ref: string;
  extraTags: string[];
  inputsHash: string;
  seconds: number;
  builtAt: string;
}

function say(message: string): void {
  process.stderr.write(`[images ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * Makes sure each named image (and the images they are built on) exists as a docker-archive in the cache, building
 * only what is missing. Serialised across processes by a file lock. Returns every image it ensured, by name.
 */
export async function ensureImages(names: ImageName[] = [...IMAGE_NAMES]): Promise<Record<ImageName, BuiltImage>> {
  for (const name of names) {
    if (!IMAGE_NAMES.includes(name)) throw new Error(`unknown image ${name}; known: ${IMAGE_NAMES.join(', ')}`);
  }
  installTools();
  const dir = imagesCacheDir();
  await mkdir(join(dir, 'logs'), { recursive: true });
  return withFileLock(join(dir, 'build.lock'), LOCK_WAIT_SECONDS, async () => {
    const done = new Map<ImageName, BuiltImage>();
    for (const name of names) await ensureOne(name, done, dir);
    return Object.fromEntries(done) as Record<ImageName, BuiltImage>;
  });
}

function installTools(): void {
  const r = spawnSync('bash', [join(REPO_ROOT, 'hack/peers/images.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`hack/peers/images.sh failed (${r.status})`);
}

async function ensureOne(name: ImageName, done: Map<ImageName, BuiltImage>, dir: string): Promise<BuiltImage> {
  const known = done.get(name);
  if (known) return known;
  const recipe = RECIPES[name];
  const parent = recipe.parent ? await ensureOne(recipe.parent, done, dir) : undefined;
  const started = performance.now();
  const inputs = await recipe.inputs(REPO_ROOT);
  inputs.push({ key: '@recipe', value: RECIPE_VERSION }, { key: '@parent', value: parent?.inputsHash ?? 'none' });
  const inputsHash = await hashInputs(inputs);
  const ref = `localhost/warroom/${name}:${inputsHash.slice(0, 12)}`;
  const archive = join(dir, `${name}-${inputsHash.slice(0, 12)}.tar`);
  const metaFile = `${archive.slice(0, -'.tar'.length)}.json`;

  const cached = await readMetadata(metaFile);
  if (cached?.inputsHash === inputsHash && (await exists(archive))) {
    // Pruning keeps the most recently used archives: a hit counts as a use.
    const now = new Date();
    await utimes(archive, now, now).catch(() => undefined);
    const image: BuiltImage = {
      ref,
      extraTags: cached.extraTags,
      archive,
      bytes: (await stat(archive)).size,
      inputsHash,
      built: false,
      seconds: (performance.now() - started) / 1000,
    };
    done.set(name, image);
    return image;
  }

  say(`building ${name} as ${ref}${parent ? ` on ${parent.ref}` : ''}`);
  const logFile = join(dir, 'logs', `${name}-${inputsHash.slice(0, 12)}.log`);
  await rm(logFile, { force: true });
  const workDir = await mkdtemp(join(dir, `work-${name}-`));
  const partial = `${archive}.partial`;
  try {
    if (parent) await ensureInStorage(parent);
    await recipe.build({
      repoRoot: REPO_ROOT,
      cacheDir: dir,
      workDir,
      ref,
      ...(parent ? { parentRef: parent.ref } : {}),
      logFile,
    });
    for (const tag of recipe.extraTags) await run('buildah', ['tag', ref, tag], { logFile });
    await rm(partial, { force: true });
    const extra = recipe.extraTags.flatMap((t) => ['--additional-tag', t]);
    await run(
      'skopeo',
      ['copy', '--quiet', `containers-storage:${ref}`, `docker-archive:${partial}:${ref}`, ...extra],
      {
        logFile,
      },
    );
    await rename(partial, archive);
  } catch (error) {
    throw new Error(`building image ${name} failed (full log: ${logFile}): ${(error as Error).message}`);
  } finally {
    await rm(workDir, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  const meta: Metadata = { ref, extraTags: recipe.extraTags, inputsHash, seconds, builtAt: new Date().toISOString() };
  await writeFile(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
  const image: BuiltImage = {
    ref,
    extraTags: recipe.extraTags,
    archive,
    bytes: (await stat(archive)).size,
    inputsHash,
    built: true,
    seconds,
  };
  say(`built ${name} in ${seconds.toFixed(1)} s (${mb(image.bytes)} MB)`);
  await pruneOld(name, dir, archive);
  done.set(name, image);
  return image;
}

/**
 * Puts an image back into buildah's storage from its archive when the storage lost it (a cache hit needs only the
 * archive, but building on top of an image, or `buildah run`-ning it, needs it in storage).
 */
export async function ensureInStorage(image: BuiltImage): Promise<void> {
  if (await succeeds('buildah', ['inspect', '--type', 'image', image.ref])) return;
  say(`loading ${image.ref} into buildah's storage from ${image.archive}`);
  await run('skopeo', [
    'copy',
    '--quiet',
    `docker-archive:${image.archive}:${image.ref}`,
    `containers-storage:${image.ref}`,
  ]);
  for (const tag of image.extraTags) await run('buildah', ['tag', image.ref, tag]);
}

async function pruneOld(name: ImageName, dir: string, current: string): Promise<void> {
  const archives: { file: string; mtime: number }[] = [];
  for (const entry of await readdir(dir)) {
    if (!entry.startsWith(`${name}-`) || !entry.endsWith('.tar')) continue;
    // `name-<12 hex>.tar` only: "sealed-secrets-controller-…" must not match an image called "sealed".
    if (!/^[0-9a-f]{12}\.tar$/.test(entry.slice(name.length + 1))) continue;
    const file = join(dir, entry);
    archives.push({ file, mtime: (await stat(file)).mtimeMs });
  }
  archives.sort((a, b) => b.mtime - a.mtime);
  for (const old of archives.slice(KEEP_PER_IMAGE)) {
    if (old.file === current) continue;
    const metaFile = `${old.file.slice(0, -'.tar'.length)}.json`;
    const meta = await readMetadata(metaFile);
    if (meta) await succeeds('buildah', ['rmi', meta.ref]);
    await rm(old.file, { force: true });
    await rm(metaFile, { force: true });
    await rm(join(dir, 'logs', `${basename(old.file, '.tar')}.log`), { force: true });
  }
}

async function readMetadata(file: string): Promise<Metadata | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Metadata;
  } catch {
    return undefined;
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function table(images: Record<string, BuiltImage>, totalSeconds: number): string {
  const rows = [['image', 'ref', 'result', 'seconds', 'MB', 'archive']];
  for (const [name, image] of Object.entries(images)) {
    const tags = [image.ref, ...image.extraTags].join(' + ');
    rows.push([name, tags, image.built ? 'built' : 'cached', image.seconds.toFixed(1), mb(image.bytes), image.archive]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  lines.push(`total ${totalSeconds.toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  const started = performance.now();
  const names = process.argv.slice(2) as ImageName[];
  try {
    const images = await ensureImages(names.length > 0 ? names : undefined);
    process.stdout.write(table(images, (performance.now() - started) / 1000));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}

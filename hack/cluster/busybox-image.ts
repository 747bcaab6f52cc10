import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from './exec.ts';

/** The Debian busybox-static binary (hack/peers/real-node.sh installs it). */
export const BUSYBOX = '/bin/busybox';

const APPLETS = [
  'sh',
  'ssl_client',
  'awk',
  'sed',
  'head',
  'tail',
  'cat',
  'echo',
  'env',
  'false',
  'grep',
  'hostname',
  'httpd',
  'id',
  'ip',
  'kill',
  'ls',
  'mkdir',
  'nc',
  'nslookup',
  'printf',
  'ps',
  'route',
  'sleep',
  'test',
  'timeout',
  'true',
  'wget',
];

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  /** Numeric, so `runAsNonRoot` can be checked by the kubelet. */
  user?: string;
  /** More files for the image, path in the image → file on the host (a static binary, say). */
  extraFiles?: Record<string, string>;
}

/**
 * A tiny image made of busybox-static alone, written as a docker-archive tar (the format `ctr images import` and
 * `docker load` read) whose RepoTags carry `ref`. No registry and no image tool: a layer tar, a config and a
 * manifest. For the harness's own tests; the project's real images come from hack/images.
 */
export async function buildBusyboxImage(outDir: string, ref: string, config: ImageConfig = {}): Promise<string> {
  const work = await mkdtemp(join(outDir, 'busybox-image-'));
  try {
    const root = join(work, 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    for (const d of ['tmp', 'etc', 'proc', 'sys', 'dev', 'www']) await mkdir(join(root, d), { recursive: true });
    await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
    for (const a of APPLETS) await symlink('busybox', join(root, 'bin', a));
    await writeFile(
      join(root, 'etc', 'passwd'),
      'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
    );
    await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nnobody:x:65534:\n');
    await writeFile(join(root, 'www', 'index.html'), 'warroom real-node test image\n');
    for (const [inImage, fromHost] of Object.entries(config.extraFiles ?? {})) {
      await mkdir(join(root, dirname(inImage)), { recursive: true });
      await copyFile(fromHost, join(root, inImage));
    }
    const stage = join(work, 'stage');
    await mkdir(stage);
    const layerTmp = join(work, 'layer.tar');
    await run('tar', [
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-C',
      root,
      '-cf',
      layerTmp,
      '.',
    ]);
    const diffId = createHash('sha256')
      .update(await readFile(layerTmp))
      .digest('hex');
    await mkdir(join(stage, diffId));
    await copyFile(layerTmp, join(stage, diffId, 'layer.tar'));
    const imageConfig = {
      architecture: 'amd64',
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: {
        Env: ['PATH=/bin'],
        ...(config.entrypoint ? { Entrypoint: config.entrypoint } : {}),
        ...(config.cmd ? { Cmd: config.cmd } : {}),
        ...(config.user ? { User: config.user } : {}),
        WorkingDir: '/',
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'hack/cluster/busybox-image.ts' }],
    };
    const configJson = JSON.stringify(imageConfig);
    const configId = createHash('sha256').update(configJson).digest('hex');
    await writeFile(join(stage, `${configId}.json`), configJson);
    await writeFile(
      join(stage, 'manifest.json'),
      JSON.stringify([{ Config: `${configId}.json`, RepoTags: [ref], Layers: [`${diffId}/layer.tar`] }]),
    );
    const archive = join(outDir, `${ref.replace(/[^a-zA-Z0-9.-]+/g, '_')}.tar`);
    await run(
      'tar',
      ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', stage, '-cf', archive].concat([
        'manifest.json',
        `${configId}.json`,
        `${diffId}/layer.tar`,
      ]),
    );
    return archive;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

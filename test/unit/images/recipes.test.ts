import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  dockerfileContextPaths,
  dockerfileNodeImage,
  IMAGE_NAMES,
  RECIPES,
  synapseVersion,
} from '../../../hack/images/recipes.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

async function withDockerfile(text: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'warroom-dockerfile-'));
  try {
    await writeFile(join(dir, 'Dockerfile'), text);
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('image recipes', () => {
  test("the operator image's inputs are exactly what the project's Dockerfile copies from the context", async () => {
    assert.deepEqual(await dockerfileContextPaths(root), [
      '.npmrc',
      'crds',
      'hack/build-dist.ts',
      'package-lock.json',
      'package.json',
      'src',
    ]);
    // .dockerignore lets in the same set: a path added to one and not the other would be a silent cache miss/hit.
    const ignore = await readFile(join(root, '.dockerignore'), 'utf8');
    for (const path of await dockerfileContextPaths(root)) assert.match(ignore, new RegExp(`^!${path}/?$`, 'm'));
  });

  test('COPY --from and flags are not context paths; continuation lines are joined', async () => {
    await withDockerfile(
      'FROM x AS a\nCOPY --chown=0:0 a.txt \\\n  b/ /dst/\nCOPY --from=a /app /app\nADD c.tgz /\n',
      async (dir) => assert.deepEqual(await dockerfileContextPaths(dir), ['a.txt', 'b', 'c.tgz']),
    );
  });

  test("the node base carries the Dockerfile's FROM name, qualified as buildah resolves it", async () => {
    assert.equal(await dockerfileNodeImage(root), 'docker.io/library/node:24-bookworm-slim');
    await withDockerfile('ARG NODE_IMAGE=bitnami/node:24\n', async (dir) =>
      assert.equal(await dockerfileNodeImage(dir), 'docker.io/bitnami/node:24'),
    );
    await withDockerfile('ARG NODE_IMAGE=mirror.example:5000/node:24@sha256:abc\n', async (dir) =>
      assert.equal(await dockerfileNodeImage(dir), 'mirror.example:5000/node:24@sha256:abc'),
    );
    await withDockerfile('FROM node:24\n', async (dir) => assert.rejects(dockerfileNodeImage(dir), /ARG NODE_IMAGE/));
  });

  test('Synapse is pinned in one place: the version the tests run is the version the image gets', async () => {
    assert.equal(await synapseVersion(root), '1.163.2');
  });

  test('every image has a recipe whose parent is built before it', () => {
    const order = [...IMAGE_NAMES];
    for (const name of IMAGE_NAMES) {
      const parent = RECIPES[name].parent;
      assert.equal(RECIPES[name].name, name);
      if (parent) assert.ok(order.indexOf(parent) < order.indexOf(name), `${parent} before ${name}`);
    }
  });
});

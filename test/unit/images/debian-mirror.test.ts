import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { debianMirror } from '../../../hack/images/debian-mirror.ts';

describe('debianMirror: the mirror apt is configured with', () => {
  let dir: string;
  const saved = process.env.WARROOM_DEBIAN_MIRROR;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warroom-apt-'));
    await mkdir(join(dir, 'sources.list.d'));
    delete process.env.WARROOM_DEBIAN_MIRROR;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.WARROOM_DEBIAN_MIRROR;
    else process.env.WARROOM_DEBIAN_MIRROR = saved;
  });

  test('deb822 sources, ignoring other vendors, disabled stanzas and comments', async () => {
    await writeFile(
      join(dir, 'sources.list.d', 'debian.sources'),
      [
        'Types: deb',
        '# http://snapshot.example/archive/debian/20250520T000000Z',
        'URIs: http://mirror.example/debian/',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        '',
        'Types: deb',
        'URIs: http://mirror.example/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        '',
        'Types: deb',
        'Enabled: no',
        'URIs: http://disabled.example/debian',
        'Suites: bookworm',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'sources.list.d', 'vendor.sources'),
      'Types: deb\nURIs: https://vendor.example/node_20.x\nSuites: nodistro\n',
    );
    assert.deepEqual(await debianMirror('bookworm', dir), {
      main: 'http://mirror.example/debian',
      security: 'http://mirror.example/debian-security',
    });
  });

  test('one-line sources.list, options in brackets; security derived when absent', async () => {
    await writeFile(
      join(dir, 'sources.list'),
      '# comment\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n',
    );
    assert.deepEqual(await debianMirror('bookworm', dir), {
      main: 'http://m.example/debian',
      security: 'http://m.example/debian-security',
    });
  });

  test('WARROOM_DEBIAN_MIRROR overrides; no mirror at all is a clear error', async () => {
    await assert.rejects(debianMirror('bookworm', dir), /no Debian mirror for bookworm.*WARROOM_DEBIAN_MIRROR/);
    process.env.WARROOM_DEBIAN_MIRROR = 'http://override.example/debian';
    assert.equal((await debianMirror('bookworm', dir)).main, 'http://override.example/debian');
  });
});

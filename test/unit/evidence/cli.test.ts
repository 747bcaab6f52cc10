import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanup, newKey, sampleArchive, tempDir } from './fixtures.ts';

after(cleanup);

const bin = fileURLToPath(new URL('../../../bin/warroom.mjs', import.meta.url));

function warroom(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('warroom CLI (a real child process)', () => {
  it('verify: a good archive exits 0 and prints every check; a tampered one exits 1 naming the first broken link', async () => {
    const key = newKey();
    const { signed } = await sampleArchive(key);
    const dir = await tempDir();
    const good = join(dir, 'good.tar');
    const pem = join(dir, 'operator.pub');
    await writeFile(good, signed);
    await writeFile(pem, createPublicKey(key).export({ type: 'spki', format: 'pem' }));

    const ok = await warroom(['verify', good, '--public-key', pem]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    for (const check of ['tar', 'manifest', 'signature', 'transcript sha256', 'chain', 'counts', 'media', 'html']) {
      assert.match(ok.stdout, new RegExp(`ok {3}${check}:`));
    }
    assert.match(ok.stdout, /VALID: case IR-2026-0042, 7 events, head [0-9a-f]{64}/);
    assert.doesNotMatch(ok.stdout, /not pinned/);

    const unpinned = await warroom(['verify', good]);
    assert.equal(unpinned.code, 0);
    assert.match(unpinned.stdout, /warning: signer key not pinned/);

    // Change one character of one message inside the archive: same length, so the tar stays well-formed.
    const text = Buffer.from(signed).toString('latin1');
    const at = text.indexOf('"body":"* fixed"');
    assert.ok(at > 0);
    const tampered = Buffer.from(signed);
    tampered[at + 10] = 'F'.charCodeAt(0);
    const bad = join(dir, 'tampered.tar');
    await writeFile(bad, tampered);
    const r = await warroom(['verify', bad, '--public-key', pem]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /FAIL transcript sha256/);
    assert.match(r.stdout, /first broken link: line 4: prev is/);
    assert.match(r.stdout, /INVALID/);

    const json = await warroom(['verify', bad, '--json']);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout);
    assert.equal(report.ok, false);
    assert.equal(report.firstBrokenLink.line, 4);

    const wrongKey = join(dir, 'other.pub');
    await writeFile(wrongKey, createPublicKey(newKey()).export({ type: 'spki', format: 'der' }).toString('base64'));
    const other = await warroom(['verify', good, '--public-key', wrongKey]);
    assert.equal(other.code, 1);
    assert.match(other.stdout, /FAIL signature: signed by key/);
  });

  it('usage errors exit 2; --help exits 0', async () => {
    const help = await warroom(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /warroom verify|verify <archive.tar>/);
    assert.equal((await warroom([])).code, 2);
    assert.equal((await warroom(['frobnicate'])).code, 2);
    assert.equal((await warroom(['verify'])).code, 2);
    assert.equal((await warroom(['verify', 'a.tar', 'b.tar'])).code, 2);
    assert.equal((await warroom(['verify', '--bogus', 'a.tar'])).code, 2);
    const missing = await warroom(['verify', '/nonexistent/archive.tar']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /ENOENT/);
    const dir = await tempDir();
    const junkKey = join(dir, 'junk.pub');
    await writeFile(junkKey, 'not a key');
    const r = await warroom(['verify', join(dir, 'x.tar'), '--public-key', junkKey]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /neither PEM nor base64/);
    const notTar = join(dir, 'not.tar');
    await writeFile(notTar, 'hello');
    const nt = await warroom(['verify', notTar]);
    assert.equal(nt.code, 1);
    assert.match(nt.stdout, /FAIL tar:/);
  });
});

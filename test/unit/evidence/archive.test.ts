import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { appendFile, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { packUnsignedExport, signExport } from '../../../src/evidence/archive.ts';
import { parseManifest } from '../../../src/evidence/manifest.ts';
import { keyId, publicKeyBase64 } from '../../../src/evidence/signing.ts';
import { decodeHeader, encodeHeader, readTar, writeTar } from '../../../src/evidence/tar.ts';
import { TranscriptWriter } from '../../../src/evidence/transcript.ts';
import { verifyArchive, verifyArchiveFile } from '../../../src/evidence/verify.ts';
import { channel, cleanup, createdAt, newKey, sampleArchive, tempDir, writeSampleTranscript } from './fixtures.ts';

after(cleanup);

const key = newKey();
const pub = createPublicKey(key);

/** A ustar archive with arbitrary names and type flags (what an attacker could hand over). */
function rawTar(entries: { name: string; type?: string; data?: string }[]): Uint8Array {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 'latin1');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write(`${(1_763_901_000).toString(8).padStart(11, '0')}\0`, 136);
    h.write(e.type ?? '0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    h.write('0000000\0', 329);
    h.write('0000000\0', 337);
    h.write('        ', 148);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return new Uint8Array(Buffer.concat(blocks));
}

describe('evidence archive', () => {
  it('packs, signs and verifies: every check passes with the pinned key', async () => {
    const { unsigned, signed } = await sampleArchive(key);
    const u = verifyArchive(unsigned, { unsigned: true });
    assert.equal(u.ok, true, JSON.stringify(u.checks));
    const report = verifyArchive(signed, { publicKey: pub });
    assert.equal(report.ok, true, JSON.stringify(report.checks, null, 1));
    assert.deepEqual(
      report.checks.map((c) => c.name),
      ['tar', 'entries', 'manifest', 'tar mtime', 'signature', 'transcript sha256', 'chain', 'counts', 'media', 'html'],
    );
    assert.deepEqual(report.warnings, []);
    const m = report.manifest!;
    assert.equal(m.format, 'warroom-evidence/v1');
    assert.deepEqual(m.channel, channel);
    assert.equal(m.createdAt, createdAt.toISOString());
    assert.equal(m.transcript.lines, 8);
    assert.equal(m.transcript.events, 7);
    assert.equal(m.transcript.decrypted, 5);
    assert.equal(m.transcript.failed, 1);
    assert.equal(m.transcript.sealed, true);
    assert.deepEqual(m.transcript.byType, {
      'm.reaction': 1,
      'm.room.encrypted': 1,
      'm.room.member': 1,
      'm.room.message': 3,
      'm.room.redaction': 1,
    });
    assert.deepEqual(m.timeRange, { first: '2025-11-23T12:13:20.000Z', last: '2025-11-23T12:13:26.000Z' });
    assert.equal(m.media.length, 1);
    assert.deepEqual(m.signer, { alg: 'ed25519', publicKey: publicKeyBase64(pub), keyId: keyId(pub) });
    const names = readTar(signed).entries.map((e) => e.name);
    assert.deepEqual(names, [
      'manifest.json',
      'manifest.sig',
      `media/${m.media[0]!.sha256}`,
      'transcript.html',
      'transcript.jsonl',
    ]);
  });

  it('without a pinned key: valid against the embedded key, with the warning "signer key not pinned"', async () => {
    const { signed } = await sampleArchive(key);
    const report = verifyArchive(signed);
    assert.equal(report.ok, true);
    assert.deepEqual(report.warnings, ['signer key not pinned']);
    assert.match(report.checks.find((c) => c.name === 'signature')!.detail, /not pinned/);
  });

  it('a different pinned key, an unsigned archive, a re-signed archive by another key all fail', async () => {
    const { unsigned, signed } = await sampleArchive(key);
    const other = newKey();
    assert.equal(verifyArchive(signed, { publicKey: createPublicKey(other) }).ok, false);
    const r = verifyArchive(unsigned, { publicKey: pub });
    assert.equal(r.ok, false);
    assert.match(r.checks.find((c) => c.name === 'signature')!.detail, /not signed/);
    assert.equal(verifyArchive(signed, { unsigned: true }).ok, false);
    assert.throws(() => signExport(signed, key), /already signed/);
    const forged = signExport(unsigned, other);
    assert.equal(verifyArchive(forged).ok, true, 'self-consistent');
    assert.equal(verifyArchive(forged, { publicKey: pub }).ok, false, 'but not by the pinned key');
  });

  it('is deterministic: the same transcript packs and signs to the same bytes', async () => {
    const a = await sampleArchive(key);
    const again = await packUnsignedExport(a.dir, { channel, createdAt });
    assert.deepEqual(again, a.unsigned);
    assert.deepEqual(signExport(again, key), a.signed);
    const transcript = await readFile(join(a.dir, 'transcript.jsonl'));
    const sha = parseManifest(readTar(a.unsigned).entries[0]!.data).media[0]!.sha256;
    const media = new Map([[sha, await readFile(join(a.dir, 'media', sha))]]);
    assert.deepEqual(await packUnsignedExport({ transcript, media }, { channel, createdAt }), a.unsigned);
  });

  it('detects a change of ANY byte: every position of a small signed archive', async () => {
    const { signed } = await sampleArchive(key);
    assert.ok(signed.length > 5000, `archive is ${signed.length} bytes`);
    const copy = new Uint8Array(signed);
    const passed: string[] = [];
    for (let i = 0; i < copy.length; i++) {
      // The lowest bit: the smallest change (a different bit pattern every 7th byte for variety).
      const mask = i % 7 === 0 ? 0xa5 : 0x01;
      copy[i]! ^= mask;
      if (verifyArchive(copy, { publicKey: pub }).ok) passed.push(`${i}^${mask}`);
      copy[i]! ^= mask;
    }
    assert.deepEqual(passed, [], 'no flipped byte may verify');
    assert.equal(verifyArchive(copy, { publicKey: pub }).ok, true, 'restored copy verifies again');
  });

  it('detects truncation and appended bytes', async () => {
    const { signed } = await sampleArchive(key);
    for (const n of [1, 511, 512, 1024, 1025, signed.length - 1]) {
      assert.equal(verifyArchive(signed.subarray(0, signed.length - n), { publicKey: pub }).ok, false, `cut ${n}`);
    }
    for (const tail of [new Uint8Array(1), new Uint8Array(512), new Uint8Array([1])]) {
      const longer = new Uint8Array(signed.length + tail.length);
      longer.set(signed);
      longer.set(tail, signed.length);
      assert.equal(verifyArchive(longer, { publicKey: pub }).ok, false, `+${tail.length}`);
    }
    assert.equal(verifyArchive(new Uint8Array(0)).ok, false);
  });

  it('reports the first broken link of a tampered transcript, even when re-hashed and re-signed', async () => {
    const { signed } = await sampleArchive(key);
    const { entries, mtime } = readTar(signed);
    const transcript = Buffer.from(entries.find((e) => e.name === 'transcript.jsonl')!.data).toString('utf8');
    const tampered = transcript.replace('fixed text', 'other text');
    const rebuilt = writeTar(
      entries.map((e) => (e.name === 'transcript.jsonl' ? { name: e.name, data: Buffer.from(tampered) } : e)),
      mtime,
    );
    const report = verifyArchive(rebuilt, { publicKey: pub });
    assert.equal(report.ok, false);
    assert.deepEqual(report.firstBrokenLink, { line: 4, reason: report.firstBrokenLink?.reason });
    assert.match(report.firstBrokenLink!.reason, /prev is/);
    assert.equal(report.checks.find((c) => c.name === 'transcript sha256')!.ok, false);
  });

  it('refuses path traversal, absolute names, links, directories, devices, duplicates and unsorted entries', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['traversal', rawTar([{ name: '../etc/passwd', data: 'x' }]), /path traversal|outside/],
      ['nested traversal', rawTar([{ name: 'media/../../x', data: 'x' }]), /path traversal|outside/],
      ['absolute', rawTar([{ name: '/etc/passwd', data: 'x' }]), /absolute|outside/],
      ['symlink', rawTar([{ name: 'manifest.json', type: '2' }]), /not a regular file/],
      ['hard link', rawTar([{ name: 'manifest.json', type: '1' }]), /not a regular file/],
      ['directory', rawTar([{ name: 'media', type: '5' }]), /not a regular file/],
      ['char device', rawTar([{ name: 'dev', type: '3' }]), /not a regular file/],
      ['fifo', rawTar([{ name: 'fifo', type: '6' }]), /not a regular file/],
      [
        'pax header',
        rawTar([{ name: 'x', type: 'x', data: '30 path=../../../../etc/passwd\n' }]),
        /not a regular file/,
      ],
      [
        'duplicate',
        rawTar([
          { name: 'a', data: '1' },
          { name: 'a', data: '2' },
        ]),
        /duplicate/,
      ],
      [
        'unsorted',
        rawTar([
          { name: 'b', data: '1' },
          { name: 'a', data: '2' },
        ]),
        /not sorted/,
      ],
    ];
    for (const [what, bytes, reason] of cases) {
      assert.throws(() => readTar(bytes), reason, what);
      const report = verifyArchive(bytes);
      assert.equal(report.ok, false, what);
      assert.match(report.checks[0]!.detail, reason, what);
    }
    assert.throws(() => writeTar([{ name: '../x', data: new Uint8Array() }], 0), /path traversal/);
    assert.throws(
      () =>
        writeTar(
          [
            { name: 'a', data: new Uint8Array() },
            { name: 'a', data: new Uint8Array() },
          ],
          0,
        ),
      /duplicate/,
    );
    assert.throws(() => writeTar([{ name: 'x'.repeat(100), data: new Uint8Array() }], 0), /longer than/);
  });

  it('the tar reads back what it wrote, including empty files and sizes on block boundaries', () => {
    const entries = [0, 1, 511, 512, 513, 4096].map((n, i) => ({
      name: `f${i}`,
      data: new Uint8Array(n).fill(i + 1),
    }));
    const bytes = writeTar(entries, 1_763_901_000);
    const back = readTar(bytes);
    assert.equal(back.mtime, 1_763_901_000);
    assert.deepEqual(
      back.entries.map((e) => [e.name, Buffer.from(e.data)]),
      entries.map((e) => [e.name, Buffer.from(e.data)]),
    );
  });

  it('event types named like Object.prototype members (__proto__, constructor, toString) count as ordinary types', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    for (const [i, type] of ['__proto__', 'constructor', 'toString', '__proto__', 'hasOwnProperty'].entries()) {
      await w.append({ kind: 'event', eventId: `$p${i}`, roomId: '!r:x', type, content: {}, decryption: 'plaintext' });
    }
    assert.deepEqual(Object.entries(w.counts.byType).sort(), [
      ['__proto__', 2],
      ['constructor', 1],
      ['hasOwnProperty', 1],
      ['toString', 1],
    ]);
    await w.seal();
    await w.close();
    const signed = signExport(await packUnsignedExport(dir, { channel, createdAt }), key);
    const report = verifyArchive(signed, { publicKey: pub });
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    assert.deepEqual(Object.entries(report.manifest!.transcript.byType), [
      ['__proto__', 2],
      ['constructor', 1],
      ['hasOwnProperty', 1],
      ['toString', 1],
    ]);
    const again = await TranscriptWriter.open(dir);
    assert.equal(again.counts.byType.constructor, 1);
    await again.close();
  });

  it('random damage (spliced garbage, cut ranges, edited entries re-tarred, odd JSON values) never verifies and never throws', async () => {
    const { signed } = await sampleArchive(key);
    const { entries, mtime } = readTar(signed);
    let seed = 20261123;
    const rnd = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed % n;
    };
    const odd = [null, 1e308, -1, 'x', [], {}, true, '__proto__', { a: [1] }];
    for (let iter = 0; iter < 600; iter++) {
      let bytes: Uint8Array;
      const kind = iter % 4;
      if (kind === 0) {
        const es = entries.map((e) => ({ name: e.name, data: new Uint8Array(e.data) }));
        const e = es[rnd(es.length)]!;
        const at = rnd(e.data.length);
        e.data[at] = (e.data[at]! + 1 + rnd(255)) & 0xff; // always a different value
        bytes = writeTar(es, mtime);
      } else if (kind === 1) {
        const at = rnd(signed.length);
        const junk = Buffer.from(Array.from({ length: 1 + rnd(600) }, () => rnd(256)));
        bytes = Buffer.concat([signed.subarray(0, at), junk, signed.subarray(at)]);
      } else if (kind === 2) {
        const at = rnd(signed.length);
        bytes = Buffer.concat([signed.subarray(0, at), signed.subarray(at + 1 + rnd(2000))]);
      } else {
        const es = entries.map((e) => ({ name: e.name, data: e.data }));
        const t = es.find((e) => e.name === 'transcript.jsonl')!;
        const lines = Buffer.from(t.data).toString('utf8').trimEnd().split('\n');
        const i = rnd(lines.length);
        const o = JSON.parse(lines[i]!);
        const keys = Object.keys(o);
        const k = keys[rnd(keys.length)]!;
        const value = odd[rnd(odd.length)];
        if (JSON.stringify(o[k]) === JSON.stringify(value)) continue;
        o[k] = value;
        lines[i] = JSON.stringify(o);
        t.data = Buffer.from(`${lines.join('\n')}\n`);
        bytes = writeTar(es, mtime);
      }
      const report = verifyArchive(bytes, { publicKey: pub });
      assert.equal(report.ok, false, `iteration ${iter} (kind ${kind})`);
      assert.ok(
        !report.checks.some((c) => c.name === 'verifier'),
        `iteration ${iter}: ${JSON.stringify(report.checks)}`,
      );
    }
  });

  it('timestamps no ISO string can hold do not break the export', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    for (const [i, ts] of [1e20, 253_402_300_800_000, -1e16].entries()) {
      await w.append({
        kind: 'event',
        eventId: `$t${i}`,
        roomId: '!r:x',
        type: 'm.room.message',
        ts,
        decryption: 'plaintext',
      });
    }
    await w.close();
    const signed = signExport(await packUnsignedExport(dir, { channel, createdAt }), key);
    const report = verifyArchive(signed, { publicKey: pub });
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    assert.deepEqual(report.manifest!.timeRange, {});
  });

  it('encodes sizes up to GBs: octal below 8 GiB, base-256 above, both read back exactly', () => {
    for (const size of [0, 1, 2 ** 31, 8 ** 11 - 1, 8 ** 11, 12 * 2 ** 30, 2 ** 40 + 7]) {
      const h = encodeHeader('media/big', size, 1_763_901_000);
      assert.deepEqual(decodeHeader(h), { name: 'media/big', size, mtime: 1_763_901_000 }, String(size));
      assert.equal(h[124]! & 0x80, size >= 8 ** 11 ? 0x80 : 0, String(size));
    }
  });

  it('refuses to export a broken chain or missing/damaged media, naming the problem', async () => {
    const dir = await tempDir();
    await writeSampleTranscript(dir);
    const path = join(dir, 'transcript.jsonl');
    const text = await readFile(path, 'utf8');
    const mediaFile = (await import('node:fs/promises')).readdir(join(dir, 'media'));
    const [sha] = await mediaFile;
    await writeFile(join(dir, 'media', sha!), 'damaged');
    await assert.rejects(packUnsignedExport(dir, { channel, createdAt }), /does not match/);
    await unlink(join(dir, 'media', sha!));
    await assert.rejects(packUnsignedExport(dir, { channel, createdAt }), /is missing/);
    await writeFile(path, text.replace('second line', 'Second line'));
    await assert.rejects(packUnsignedExport(dir, { channel, createdAt }), /chain is broken at line 3/);
    await writeFile(path, text);
    await appendFile(path, '{"torn');
    await assert.rejects(packUnsignedExport(dir, { channel, createdAt }), /broken at line 9/);
  });

  it('signExport refuses an unsigned export whose contents do not match its manifest', async () => {
    const { unsigned } = await sampleArchive(key);
    const { entries, mtime } = readTar(unsigned);
    const html = entries.find((e) => e.name === 'transcript.html')!;
    const swapped = writeTar(
      entries.map((e) => (e === html ? { name: e.name, data: Buffer.from('<p>nothing to see</p>') } : e)),
      mtime,
    );
    assert.throws(() => signExport(swapped, key), /html: sha256/);
  });

  it('handles an archive of 2 000 events (the bench covers 10 000)', async () => {
    const { signed } = await sampleArchive(key, 2000);
    const report = verifyArchive(signed, { publicKey: pub });
    assert.equal(report.ok, true);
    assert.equal(report.manifest?.transcript.events, 2007);
    // A dense sample of flipped bytes across the bigger archive.
    const copy = new Uint8Array(signed);
    const stride = Math.floor(copy.length / 80) + 1;
    for (let i = 0; i < copy.length; i += stride) {
      copy[i]! ^= 0x20;
      assert.equal(verifyArchive(copy, { publicKey: pub }).ok, false, `byte ${i}`);
      copy[i]! ^= 0x20;
    }
  });

  it('verifyArchiveFile (streaming, media never held) agrees with verifyArchive on good, tampered and cut archives', async () => {
    const { signed } = await sampleArchive(key);
    const dir = await tempDir();
    const path = join(dir, 'a.tar');
    const variants: [string, Uint8Array][] = [
      ['good', signed],
      ['cut', signed.subarray(0, signed.length - 700)],
    ];
    const step = Math.floor(signed.length / 150);
    for (let i = 0; i < signed.length; i += step) {
      const copy = new Uint8Array(signed);
      copy[i]! ^= 0x04;
      variants.push([`byte ${i}`, copy]);
    }
    for (const [what, bytes] of variants) {
      await writeFile(path, bytes);
      const fromFile = await verifyArchiveFile(path, { publicKey: pub });
      const inMemory = verifyArchive(bytes, { publicKey: pub });
      assert.equal(fromFile.ok, what === 'good', what);
      assert.deepEqual(
        fromFile.checks.map((c) => [c.name, c.ok]),
        inMemory.checks.map((c) => [c.name, c.ok]),
        what,
      );
      assert.deepEqual(fromFile.firstBrokenLink, inMemory.firstBrokenLink, what);
    }
    await assert.rejects(verifyArchiveFile(join(dir, 'missing.tar')), /ENOENT/);
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  GENESIS,
  lineHash,
  type NewRecord,
  type TranscriptRecovery,
  TranscriptWriter,
  verifyChain,
} from '../../../src/evidence/transcript.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wr-transcript-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function event(i: number, extra: Partial<NewRecord> = {}): NewRecord {
  return {
    kind: 'event',
    eventId: `$e${i}`,
    roomId: '!room:wr.invalid',
    sender: '@alice:wr.invalid',
    deviceId: 'DEV1',
    ts: 1_700_000_000_000 + i,
    type: 'm.room.message',
    content: { msgtype: 'm.text', body: `message ${i}` },
    decryption: 'plaintext',
    ...extra,
  };
}

const fixedClock = () => new Date('2026-11-23T12:00:00.000Z');

describe('TranscriptWriter', () => {
  it('writes a hash chain: genesis prev, each prev = sha256 of the previous line bytes, contiguous seq', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir, { clock: fixedClock });
    assert.equal(w.head, GENESIS);
    assert.equal(w.count, 0);
    const r1 = await w.append(event(1));
    const r2 = await w.append(event(2, { decryption: 'decrypted', ciphertext: { algorithm: 'm.megolm.v1.aes-sha2' } }));
    assert.equal(r1.seq, 1);
    assert.equal(r1.prev, GENESIS);
    assert.equal(r1.recordedAt, '2026-11-23T12:00:00.000Z');
    const text = await readFile(w.path, 'utf8');
    const lines = text.split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[2], '');
    assert.equal(r2.prev, lineHash(lines[0]!));
    assert.equal(w.head, lineHash(lines[1]!));
    assert.deepEqual(JSON.parse(lines[1]!), r2);
    assert.deepEqual(verifyChain(text), { ok: true, count: 2, head: w.head });
    assert.equal(w.counts.events, 2);
    assert.equal(w.counts.decrypted, 1);
    assert.equal(w.counts.plaintext, 1);
    assert.deepEqual(w.counts.byType, { 'm.room.message': 2 });
    assert.equal(w.counts.firstTs, 1_700_000_000_001);
    assert.equal(w.counts.lastTs, 1_700_000_000_002);
    await w.close();
    assert.equal((await stat(w.path)).mode & 0o777, 0o600);
  });

  it('refuses a second writer on the same transcript in one process until the first is closed', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    await assert.rejects(TranscriptWriter.open(join(dir, '.')), /already open in this process/);
    await w.close();
    const again = await TranscriptWriter.open(dir);
    await again.close();
  });

  it('keeps a stable key order whatever order the caller used', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir, { clock: fixedClock });
    const rec = { decryption: 'plaintext', content: { b: 1, a: 2 }, type: 't', eventId: '$x', kind: 'event' } as const;
    await w.append(rec);
    await w.close();
    const line = (await readFile(w.path, 'utf8')).trimEnd();
    assert.equal(
      line,
      `{"seq":1,"kind":"event","eventId":"$x","recordedAt":"2026-11-23T12:00:00.000Z","type":"t","content":{"b":1,"a":2},"decryption":"plaintext","prev":"${GENESIS}"}`,
    );
  });

  it('round-trips hostile plaintext: newlines, unicode, lone surrogates, quotes, NUL, U+2028', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    const bodies = [
      'line1\nline2\r\n{"seq":999}\n',
      'emoji 🔥 ñ 漢字 \u2028\u2029',
      'lone \ud800 surrogate',
      'nul \u0000 and "quotes" and \\ backslash',
      '<script>alert(1)</script>',
    ];
    for (const [i, body] of bodies.entries()) await w.append(event(i, { content: { body } }));
    await w.close();
    const text = await readFile(w.path, 'utf8');
    assert.equal(text.split('\n').length, bodies.length + 1, 'one line per record');
    assert.equal(verifyChain(text).ok, true);
    const again = await TranscriptWriter.open(dir);
    assert.equal(again.count, bodies.length);
    await again.close();
    const parsed = text
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { content: { body: string } }).content.body);
    assert.deepEqual(parsed, bodies);
  });

  it('resumes: rebuilds head, count, counts and the has() index; refuses duplicates', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    for (let i = 0; i < 20; i++) await w.append(event(i, i % 5 === 0 ? { type: 'm.room.member' } : {}));
    const head = w.head;
    await w.close();
    const r = await TranscriptWriter.open(dir);
    assert.equal(r.count, 20);
    assert.equal(r.head, head);
    assert.equal(r.recovery, undefined);
    assert.equal(r.has('$e7'), true);
    assert.equal(r.has('$e20'), false);
    assert.deepEqual(r.counts.byType, { 'm.room.member': 4, 'm.room.message': 16 });
    await assert.rejects(r.append(event(7)), /already in the transcript/);
    const next = await r.append(event(20));
    assert.equal(next.seq, 21);
    assert.equal(next.prev, head);
    await r.close();
    assert.equal(verifyChain(await readFile(r.path)).ok, true);
  });

  it('recovers from a torn last line without newline, and from a last line that is not JSON; only the last', async () => {
    for (const tail of ['{"seq":4,"kind":"ev', '\u0000\u0000\u0000\n', '{"seq":4}garbage\n']) {
      const dir = await tempDir();
      const w = await TranscriptWriter.open(dir);
      for (let i = 1; i <= 3; i++) await w.append(event(i));
      const head = w.head;
      await w.close();
      const before = await readFile(w.path);
      await appendFile(w.path, tail);
      const seen: TranscriptRecovery[] = [];
      const r = await TranscriptWriter.open(dir, { onRecovery: (x) => seen.push(x) });
      assert.equal(r.count, 3, JSON.stringify(tail));
      assert.equal(r.head, head);
      assert.equal(r.recovery?.line, 4);
      assert.equal(r.recovery?.truncatedBytes, Buffer.byteLength(tail));
      assert.deepEqual(seen, [r.recovery]);
      assert.deepEqual(await readFile(w.path), before);
      await r.append(event(4));
      await r.close();
      assert.equal(verifyChain(await readFile(w.path)).ok, true);
    }
  });

  it('refuses to resume a broken chain and names the first bad line, without modifying the file', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    for (let i = 1; i <= 5; i++) await w.append(event(i));
    await w.close();
    const original = await readFile(w.path, 'utf8');
    const tampered = original.replace('message 3', 'message X');
    await writeFile(w.path, tampered);
    await assert.rejects(TranscriptWriter.open(dir), /broken at line 4: prev is/);
    assert.equal(await readFile(w.path, 'utf8'), tampered);
    const v = verifyChain(tampered);
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.line, 4);

    // A garbage line in the middle is not a torn tail.
    const lines = original.split('\n');
    lines[1] = 'not json';
    await writeFile(w.path, lines.join('\n'));
    await assert.rejects(TranscriptWriter.open(dir), /broken at line 2: not valid JSON/);

    // A deleted line, a reordered line.
    const l = original.trimEnd().split('\n');
    await writeFile(w.path, [l[0], l[2], l[3], l[4], ''].join('\n'));
    await assert.rejects(TranscriptWriter.open(dir), /broken at line 2: seq is 3, expected 2/);
    await writeFile(w.path, [l[0], l[2], l[1], l[3], l[4], ''].join('\n'));
    await assert.rejects(TranscriptWriter.open(dir), /broken at line 2/);
  });

  it('group commit: concurrent appends share batches, keep call order, and every line is on disk when it resolves', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    const n = 2000;
    const checks: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      checks.push(
        w.append(event(i)).then(async (rec) => {
          if (rec.seq % 250 !== 0) return;
          // Another file description sees the line as soon as the promise resolves.
          const onDisk = (await readFile(w.path, 'utf8')).split('\n');
          assert.ok(onDisk.length > rec.seq, `line ${rec.seq} on disk`);
          assert.equal(JSON.parse(onDisk[rec.seq - 1]!).eventId, rec.eventId);
        }),
      );
    }
    await Promise.all(checks);
    assert.ok(w.batches < n / 10, `${w.batches} batches for ${n} appends`);
    await w.close();
    const text = await readFile(w.path, 'utf8');
    const v = verifyChain(text);
    assert.ok(v.ok);
    assert.equal(v.count, n);
    const ids = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).eventId);
    assert.deepEqual(
      ids,
      Array.from({ length: n }, (_, i) => `$e${i}`),
    );
  });

  it('an acknowledged append survives a SIGKILL of the writing process', async () => {
    const dir = await tempDir();
    const script = `
      import { TranscriptWriter } from ${JSON.stringify(new URL('../../../src/evidence/transcript.ts', import.meta.url).href)};
      const w = await TranscriptWriter.open(process.argv[1]);
      let i = 0;
      for (;;) {
        const batch = [];
        for (let k = 0; k < 50; k++, i++) batch.push(w.append({ kind: 'event', eventId: '$' + i, decryption: 'plaintext', content: { body: 'x'.repeat(i % 300) } }));
        const recs = await Promise.all(batch);
        process.stdout.write(recs.at(-1).seq + '\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let acked = 0;
    child.stdout.setEncoding('utf8');
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('child made no progress in 20 s')), 20_000);
      child.stdout.on('data', (d: string) => {
        buf += d;
        const nums = buf.trim().split('\n');
        acked = Number(nums.at(-1));
        if (acked >= 3000) {
          child.kill('SIGKILL');
          clearTimeout(deadline);
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    const r = await TranscriptWriter.open(dir);
    assert.ok(r.count >= acked, `${r.count} lines on disk >= ${acked} acknowledged`);
    assert.equal(r.has(`$${acked - 1}`), true);
    await r.close();
    assert.equal(verifyChain(await readFile(r.path)).ok, true);
  });

  it('seal: appends the seal record last, refuses appends after it, is idempotent and survives resume', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    await w.append(event(1));
    const seal = await w.seal('case closed');
    assert.equal(seal.kind, 'seal');
    assert.equal(seal.seq, 2);
    assert.deepEqual(seal.content, { note: 'case closed', events: 1, byType: { 'm.room.message': 1 } });
    await assert.rejects(w.append(event(2)), /sealed/);
    assert.deepEqual(await w.seal(), seal);
    await w.close();
    const r = await TranscriptWriter.open(dir);
    assert.equal(r.sealed, true);
    assert.equal(r.counts.events, 1);
    await assert.rejects(r.append(event(3)), /sealed/);
    assert.deepEqual(await r.seal(), seal);
    await r.close();
    await assert.rejects(r.append(event(4)), /closed|sealed/);
  });

  it('rejects bad records with a clear error and keeps the chain intact', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    await assert.rejects(w.append({ kind: 'seal', decryption: 'plaintext' }), /use seal\(\)/);
    await assert.rejects(w.append(event(1, { decryption: 'maybe' as 'failed' })), /unknown decryption/);
    await assert.rejects(w.append(event(1, { content: { n: 10n } })), /cannot be serialised/);
    await assert.rejects(
      w.append(event(1, { media: [{ mxcUri: 'mxc://x/y', sha256: 'ab', bytes: 1, file: 'media/ab' }] })),
      /sha256/,
    );
    await assert.rejects(w.append(event(1, { ts: Number.NaN })), /ts is not a number/);
    await assert.rejects(w.append(event(1, { ts: Number.POSITIVE_INFINITY })), /ts is not a number/);
    await assert.rejects(w.append(event(1, { sender: 42 as unknown as string })), /sender is not a string/);
    await assert.rejects(w.append(event(1, { recordedAt: 5 as unknown as string })), /recordedAt/);
    assert.equal(w.has('$e1'), false, 'a refused record leaves no trace');
    const ok = await w.append(event(1));
    assert.equal(ok.seq, 1);
    assert.equal(ok.prev, GENESIS);
    await w.close();
    assert.equal(verifyChain(await readFile(w.path)).ok, true);
  });

  it('writeMedia stores content-addressed, idempotent, 0600 files', async () => {
    const dir = await tempDir();
    const w = await TranscriptWriter.open(dir);
    const bytes = new TextEncoder().encode('a picture');
    const m1 = await w.writeMedia(bytes);
    const m2 = await w.writeMedia(bytes);
    assert.deepEqual(m1, m2);
    assert.match(m1.sha256, /^[0-9a-f]{64}$/);
    assert.equal(m1.file, `media/${m1.sha256}`);
    assert.deepEqual(await readdir(w.mediaDir), [m1.sha256]);
    assert.equal((await stat(join(dir, m1.file))).mode & 0o777, 0o600);
    assert.equal(await readFile(join(dir, m1.file), 'utf8'), 'a picture');
    await truncate(join(dir, m1.file), 2); // a damaged copy is rewritten
    await w.writeMedia(bytes);
    assert.equal(await readFile(join(dir, m1.file), 'utf8'), 'a picture');
    await writeFile(join(dir, m1.file), 'A picture'); // same size, different bytes
    await w.writeMedia(bytes);
    assert.equal(await readFile(join(dir, m1.file), 'utf8'), 'a picture');
    assert.deepEqual(await readdir(w.mediaDir), [m1.sha256], 'no temp files left');
    await w.close();
  });
});

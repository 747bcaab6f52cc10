// The evidence settings: retention parsing, the combinations that must fail at start with one line, and the CLI's
// refusal of a required timestamp without a pinned TSA.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { main } from '../../../src/cli/main.ts';
import { loadConfig } from '../../../src/config.ts';

const DAY = 86_400_000;

describe('evidence configuration', () => {
  it('defaults to the file store without timestamps', () => {
    const c = loadConfig([], {});
    assert.equal(c.evidenceStore, 'file');
    assert.equal(c.evidenceTsaUrl, undefined);
    assert.equal(c.evidenceTimestamp, 'required');
  });

  it('parses retentions in years (365.25 days, rounded up), days and Go durations', () => {
    const s3 = ['--evidence-store=s3', '--evidence-s3-bucket=evidence'];
    const retention = (r: string) => loadConfig([...s3, `--evidence-retention=${r}`], {}).evidenceRetention;
    assert.equal(retention('7y'), 2557 * DAY);
    assert.equal(retention('1y'), 366 * DAY);
    assert.equal(retention('90d'), 90 * DAY);
    assert.equal(retention('48h'), 2 * DAY);
    for (const bad of ['7 years', '0y', '12h', '-1d', 'y']) {
      assert.throws(() => retention(bad), /--evidence-retention: ".*" is not a retention of at least a day/, bad);
    }
  });

  it('refuses, in one line, an S3 store without bucket or retention and a TSA without its root', () => {
    const oneLine = (args: string[], expected: RegExp) =>
      assert.throws(
        () => loadConfig(args, {}),
        (err: Error) => expected.test(err.message) && !err.message.includes('\n'),
      );
    oneLine(
      ['--evidence-store=s3', '--evidence-retention=7y'],
      /--evidence-s3-bucket: required with --evidence-store=s3/,
    );
    oneLine(['--evidence-store=s3', '--evidence-s3-bucket=evidence'], /--evidence-retention: required with/);
    oneLine(['--evidence-tsa-url=http://127.0.0.1:3031/api/v1/timestamp'], /--evidence-tsa-root: required with/);
    oneLine(['--evidence-tsa-root=/etc/tsa.pem'], /--evidence-tsa-url: required with/);
    oneLine(['--evidence-s3-endpoint=not a url'], /--evidence-s3-endpoint/);
    const ok = loadConfig([], {
      WARROOM_EVIDENCE_STORE: 's3',
      WARROOM_EVIDENCE_S3_BUCKET: 'evidence',
      WARROOM_EVIDENCE_RETENTION: '7y',
      WARROOM_EVIDENCE_S3_FORCE_PATH_STYLE: 'true',
      WARROOM_EVIDENCE_TSA_URL: 'http://127.0.0.1:3031/api/v1/timestamp',
      WARROOM_EVIDENCE_TSA_ROOT: '/etc/warroom/tsa-root/tsa-root.pem',
      WARROOM_EVIDENCE_TIMESTAMP: 'optional',
    });
    assert.equal(ok.evidenceS3ForcePathStyle, true);
    assert.equal(ok.evidenceTimestamp, 'optional');
  });

  it('warroom verify: --require-timestamp without --tsa-root is a usage error (exit 2)', async () => {
    let err = '';
    const code = await main(['verify', 'archive.tar', '--require-timestamp'], {
      out: () => {},
      err: (s) => (err += s),
    });
    assert.equal(code, 2);
    assert.match(err, /--require-timestamp needs --tsa-root/);
  });
});

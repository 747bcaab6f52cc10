// Everything derived from a caseId: ticket systems write `IR-2026-0042`, `JIRA:SEC-12`, `sn/INC001`, `case#42`, and
// none of `/`, `#`, `:`, `.` or upper case may reach a namespace name or an archive file name as is.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, describe, it } from 'node:test';
import { LIMITS } from '../../../src/api/v1alpha1/incidentchannel.ts';
import { validateSpec } from '../../../src/api/v1alpha1/validation.ts';
import { caseSlug, evidenceArchiveName, namespaceName } from '../../../src/controllers/incidentchannel/names.ts';
import { FileEvidenceStore } from '../../../src/evidence/store.ts';
import { cleanup, tempDir } from '../evidence/fixtures.ts';

after(cleanup);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const UID = '0b7c1f9e-1111-2222-3333-444455556666';
const CASE_ID_CHARS = 'abcXYZ0189-_.:#/';
const TICKET_IDS = ['IR-2026-0042', 'INC0012345', 'JIRA:SEC-12', 'case#42', 'sn/INC001'];
// Case ids made to break things: only symbols, path steps, leading dots and hyphens, the maximum length.
const HOSTILE_IDS = [
  '#',
  '/',
  '..',
  '../..',
  '.hidden',
  '-x-',
  '__',
  'a..b',
  ':::',
  `${'#'.repeat(63)}a`,
  'A'.repeat(64),
];

/** Every case id of length 1..64 a seeded generator makes from the allowed characters: bounded and repeatable. */
function* generatedCaseIds(count: number): Generator<string> {
  let seed = 42;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  for (let i = 0; i < count; i++) {
    const length = 1 + (next() % LIMITS.caseIdMaxLength);
    yield Array.from({ length }, () => CASE_ID_CHARS[next() % CASE_ID_CHARS.length]).join('');
  }
}

const allCaseIds = () => [...TICKET_IDS, ...HOSTILE_IDS, ...generatedCaseIds(2000)];

describe('caseSlug', () => {
  it('lower-cases and joins the letters and digits with single hyphens', () => {
    assert.equal(caseSlug('IR-2026-0042', 63), 'ir-2026-0042');
    assert.equal(caseSlug('JIRA:SEC-12', 63), 'jira-sec-12');
    assert.equal(caseSlug('sn/INC001', 63), 'sn-inc001');
    assert.equal(caseSlug('case#42', 63), 'case-42');
    assert.equal(caseSlug('--a__b..c--', 63), 'a-b-c');
    assert.equal(caseSlug('#/:', 63), '');
    assert.equal(caseSlug('abc-def', 4), 'abc', 'no trailing hyphen after the cut');
  });
});

describe('namespaceName', () => {
  it('is a DNS label of at most 63 characters for every case id the CRD admits, with any allowed prefix', () => {
    for (const caseId of allCaseIds()) {
      assert.ok(validateSpec({ caseId, ttl: '1h', participants: [{ handle: 'f', role: 'lead' }] }).ok, caseId);
      for (const prefix of ['wr', 'abcdefghij']) {
        const ns = namespaceName(caseId, UID, prefix);
        assert.match(ns, DNS_LABEL, `${caseId} → ${ns}`);
        assert.ok(ns.length <= 63, `${caseId} → ${ns} (${ns.length})`);
        assert.ok(ns.startsWith(`${prefix}-`), ns);
      }
    }
  });

  it('keeps the names of channels created when caseId had to be a DNS label', () => {
    // An upgrade must not move a live war room to a new namespace.
    const hash = createHash('sha256').update(UID).digest('hex').slice(0, 6);
    for (const old of ['ir-2026-0042', 'inc-7', 'a', '0', 'x'.repeat(45)]) {
      assert.equal(namespaceName(old, UID), `wr-${old}-${hash}`);
    }
  });

  it('reads like the ticket, and a case id without letters or digits still gets a namespace', () => {
    assert.match(namespaceName('IR-2026-0042', UID), /^wr-ir-2026-0042-[0-9a-f]{6}$/);
    assert.match(namespaceName('JIRA:SEC-12', UID), /^wr-jira-sec-12-[0-9a-f]{6}$/);
    assert.match(namespaceName('#', UID), /^wr-[0-9a-f]{6}$/);
  });
});

describe('evidenceArchiveName', () => {
  it('is a plain file name the evidence store accepts, for every admitted case id', async () => {
    const dir = await tempDir();
    const store = new FileEvidenceStore(dir);
    const ids = [...TICKET_IDS, ...HOSTILE_IDS];
    for (const caseId of [...ids, ...generatedCaseIds(200)]) {
      const name = evidenceArchiveName(caseId, UID);
      assert.match(name, /^[a-z0-9][a-z0-9-]*\.tar$/, `${caseId} → ${name}`);
      assert.ok(!name.includes('..') && !name.includes('/'), name);
    }
    // The real store writes each one inside its directory, nowhere else.
    for (const [i, caseId] of ids.entries()) {
      // Ids without letters or digits share a name: the store suffixes the second one, never replaces the first.
      const { location } = await store.put(evidenceArchiveName(caseId, UID), new Uint8Array([i]));
      assert.equal(dirname(location), dir);
      assert.deepEqual([...(await readFile(location))], [i]);
    }
    const files = await readdir(dir);
    assert.equal(files.length, ids.length);
    assert.ok(
      files.every((f) => f.endsWith('.tar')),
      files.join(' '),
    );
  });

  it('names the case and the channel incarnation', () => {
    assert.equal(evidenceArchiveName('sn/INC001', UID), `sn-inc001-${UID}.tar`);
    assert.equal(evidenceArchiveName('#', UID), `case-${UID}.tar`);
    assert.match(evidenceArchiveName('x', '../../etc'), /^x-[a-z0-9-]+\.tar$/);
  });
});

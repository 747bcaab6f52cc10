import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { escapeHtml, renderTranscriptHtml } from '../../../src/evidence/html.ts';
import { readTar } from '../../../src/evidence/tar.ts';
import { channel, cleanup, newKey, sampleArchive } from './fixtures.ts';

after(cleanup);

async function sampleHtml(): Promise<string> {
  const { signed } = await sampleArchive(newKey());
  const html = readTar(signed).entries.find((e) => e.name === 'transcript.html')!;
  return Buffer.from(html.data).toString('utf8');
}

describe('transcript HTML', () => {
  it('shows a ticket-style case id as written, and escapes one from a forged manifest', () => {
    const render = (caseId: string) =>
      renderTranscriptHtml([], {
        channel: { ...channel, caseId },
        createdAt: '2026-11-23T12:30:00.000Z',
        headHash: 'a'.repeat(64),
        lines: 0,
        sealed: true,
      });
    for (const caseId of ['sn/INC#001', 'JIRA:SEC-12', 'IR-2026-0042']) {
      const html = render(caseId);
      assert.match(html, new RegExp(`<title>War room transcript — ${caseId}</title>`));
      assert.match(html, new RegExp(`<h1>War room transcript — case ${caseId}</h1>`));
    }
    // The CRD refuses these characters, but a manifest can be edited: the page still shows text, not markup.
    const forged = render('"><script>alert(1)</script>&#');
    assert.doesNotMatch(forged, /<script/i);
    assert.match(forged, /case &quot;&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;&amp;#<\/h1>/);
  });

  it('escapes every attacker-controlled value: no tag, script or attribute from the transcript survives', async () => {
    const html = await sampleHtml();
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /<b>Bob/);
    assert.match(html, /&lt;script&gt;alert\(&quot;pwned&quot;\)&lt;\/script&gt;/);
    assert.match(html, /&lt;b&gt;Bob&lt;\/b&gt;/);
    assert.match(html, /wrong &lt;file&gt;/);
    // Only our own tags appear.
    const tags = new Set([...html.matchAll(/<\/?([a-zA-Z0-9!]+)/g)].map((m) => m[1]!.toLowerCase()));
    const allowed = [
      '!doctype',
      'html',
      'head',
      'meta',
      'title',
      'style',
      'body',
      'h1',
      'h2',
      'p',
      'code',
      'div',
      'br',
    ];
    allowed.push(
      'table',
      'thead',
      'tbody',
      'tr',
      'th',
      'td',
      'a',
      'span',
      'strong',
      'details',
      'summary',
      'pre',
      'ul',
      'li',
    );
    assert.deepEqual(
      [...tags].filter((t) => !allowed.includes(t)),
      [],
    );
    // No external resource: every href is an in-page anchor or media/<sha256>.
    for (const [, href] of html.matchAll(/href="([^"]*)"/g)) assert.match(href!, /^(#e\d+|media\/[0-9a-f]{64})$/);
    assert.doesNotMatch(html, /src=|url\(|@import|http:|https:/i);
    assert.match(html, /Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;sha256-/);
  });

  it('shows rooms, senders, devices, edits, redactions, reactions, failed decryptions, media and the chain head', async () => {
    const html = await sampleHtml();
    assert.match(html, /<code>!ops:wr.invalid<\/code> \(7 events\)/);
    assert.match(html, /@alice:wr.invalid<div class="meta">device ALICEDEV/);
    assert.match(html, /edit of <a href="#e2">#2<\/a><\/div><div class="body">fixed text/);
    assert.match(html, /edited by <a href="#e3">#3<\/a>/);
    assert.match(html, /<tr id="e4" class="redacted">/);
    assert.match(html, /redacted by <a href="#e6">#6<\/a>/);
    assert.match(html, /redacts <a href="#e4">#4<\/a> \(reason: wrong &lt;file&gt;\)/);
    assert.match(html, /reacted 👍 to <a href="#e4">#4<\/a>/);
    assert.match(html, /<tr id="e7" class="failed">/);
    assert.match(html, /Could not decrypt<\/strong>: MEGOLM_UNKNOWN_INBOUND_SESSION_ID/);
    assert.match(html, /<a href="media\/[0-9a-f]{64}" rel="noopener noreferrer">/);
    assert.match(html, /Head hash: [0-9a-f]{64}/);
    assert.match(html, /8 lines, sealed/);
    assert.match(html, /Transcript sealed<\/strong>: case closed/);
    assert.match(html, /second line 🔥/);
  });

  it('escapeHtml covers the five HTML metacharacters', () => {
    assert.equal(
      escapeHtml(`<a href='x' onclick="y">&</a>`),
      '&lt;a href=&#39;x&#39; onclick=&quot;y&quot;&gt;&amp;&lt;/a&gt;',
    );
    assert.equal(escapeHtml(undefined), '');
    assert.equal(escapeHtml(42), '42');
  });
});

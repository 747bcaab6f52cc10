// A human-readable, self-contained HTML rendering of a transcript. Every value from the transcript is attacker-
// controlled (message bodies, display names, room names, event ids), so all of it goes through escapeHtml and
// never into a URL, attribute name, script or style. The page loads nothing, runs nothing, and its CSP says so.
// The rendering is deterministic (no clock, stable order) so verify can re-render it and compare bytes.
import { createHash } from 'node:crypto';
import { type ChannelRef, isoTime } from './manifest.ts';
import type { MediaRef, TranscriptRecord } from './transcript.ts';

export interface HtmlInfo {
  channel: ChannelRef;
  createdAt: string;
  headHash: string;
  lines: number;
  sealed: boolean;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #999}
.chain{background:#eef6ee;border:1px solid #7a7;padding:.6em;font-family:monospace;word-break:break-all}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em;vertical-align:top;text-align:left}
.body{white-space:pre-wrap;word-break:break-word}.meta{color:#555;font-size:.85em}.failed{background:#fdecea}
.redacted{text-decoration:line-through}.badge{font-size:.8em;padding:0 .3em;border:1px solid #999;border-radius:3px}
pre{white-space:pre-wrap;word-break:break-all;font-size:.8em;margin:.2em 0}`;

const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; img-src 'self'`;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  const s = typeof value === 'string' ? value : value === undefined ? '' : String(value);
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function renderTranscriptHtml(records: readonly TranscriptRecord[], info: HtmlInfo): string {
  const bySeqOfEvent = new Map<string, number>();
  const editedBy = new Map<string, number[]>();
  const redactedBy = new Map<string, number[]>();
  const roomNames = new Map<string, string>();
  const rooms = new Map<string, TranscriptRecord[]>();
  const other: TranscriptRecord[] = [];
  for (const r of records) {
    if (r.eventId !== undefined) bySeqOfEvent.set(r.eventId, r.seq);
    const rel = relation(r);
    if (rel?.relType === 'm.replace' && rel.eventId) push(editedBy, rel.eventId, r.seq);
    const redacts = redactsOf(r);
    if (redacts) push(redactedBy, redacts, r.seq);
    if (r.type === 'm.room.name' && r.stateKey === '' && isObject(r.content) && typeof r.content.name === 'string') {
      roomNames.set(r.roomId ?? '', r.content.name);
    }
    if (r.kind === 'event' && r.roomId !== undefined) push(rooms, r.roomId, r);
    else other.push(r);
  }

  const link = (eventId: string | undefined) => {
    if (eventId === undefined) return '';
    const seq = bySeqOfEvent.get(eventId);
    return seq === undefined ? escapeHtml(eventId) : `<a href="#e${seq}">#${seq}</a>`;
  };

  const row = (r: TranscriptRecord): string => {
    const cls = [r.decryption === 'failed' ? 'failed' : '', r.eventId && redactedBy.has(r.eventId) ? 'redacted' : '']
      .filter(Boolean)
      .join(' ');
    const notes: string[] = [];
    if (r.eventId && editedBy.has(r.eventId)) {
      notes.push(
        `edited by ${editedBy
          .get(r.eventId)!
          .map((s) => `<a href="#e${s}">#${s}</a>`)
          .join(', ')}`,
      );
    }
    if (r.eventId && redactedBy.has(r.eventId)) {
      notes.push(
        `redacted by ${redactedBy
          .get(r.eventId)!
          .map((s) => `<a href="#e${s}">#${s}</a>`)
          .join(', ')}`,
      );
    }
    const time = r.ts === undefined ? '' : (isoTime(r.ts) ?? `ts ${r.ts}`);
    return `<tr id="e${r.seq}"${cls ? ` class="${cls}"` : ''}>
<td><a href="#e${r.seq}">${r.seq}</a></td>
<td>${escapeHtml(time)}<div class="meta">recorded ${escapeHtml(r.recordedAt)}</div></td>
<td>${escapeHtml(r.sender)}<div class="meta">${r.deviceId === undefined ? '' : `device ${escapeHtml(r.deviceId)}`}</div></td>
<td>${escapeHtml(r.type)}${r.stateKey === undefined ? '' : `<div class="meta">state key ${escapeHtml(r.stateKey)}</div>`}<div><span class="badge">${escapeHtml(r.decryption)}</span></div></td>
<td>${describe(r, link)}${notes.length ? `<div class="meta">${notes.join('; ')}</div>` : ''}${media(r.media)}
<details><summary class="meta">event ${escapeHtml(r.eventId)}</summary><pre>${escapeHtml(json(detailsOf(r)))}</pre></details></td>
</tr>`;
  };

  const sections = [...rooms.entries()].map(([roomId, rs]) => {
    const name = roomNames.get(roomId);
    return `<h2>${name === undefined ? '' : `${escapeHtml(name)} — `}<code>${escapeHtml(roomId)}</code> (${rs.length} events)</h2>
<table><thead><tr><th>#</th><th>time (UTC)</th><th>sender</th><th>type</th><th>content</th></tr></thead><tbody>
${rs.map(row).join('\n')}
</tbody></table>`;
  });
  if (other.length) {
    sections.push(`<h2>Records without a room</h2>
<table><thead><tr><th>#</th><th>time (UTC)</th><th>sender</th><th>type</th><th>content</th></tr></thead><tbody>
${other.map(row).join('\n')}
</tbody></table>`);
  }

  const c = info.channel;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(CSP)}">
<meta name="referrer" content="no-referrer">
<title>War room transcript — ${escapeHtml(c.caseId)}</title>
<style>${STYLE}</style></head><body>
<h1>War room transcript — case ${escapeHtml(c.caseId)}</h1>
<p>Channel <code>${escapeHtml(c.name)}</code> (uid <code>${escapeHtml(c.uid)}</code>), namespace <code>${escapeHtml(c.namespace)}</code>. Exported ${escapeHtml(info.createdAt)}.</p>
<div class="chain">Hash chain intact when exported: ${info.lines} lines, ${info.sealed ? 'sealed' : 'NOT sealed'}.<br>Head hash: ${escapeHtml(info.headHash)}<br>Run <code>warroom verify</code> on the archive to check it again; this page is only a rendering of transcript.jsonl.</div>
${sections.join('\n')}
</body></html>
`;
}

function describe(r: TranscriptRecord, link: (id: string | undefined) => string): string {
  if (r.kind === 'seal') {
    const note = isObject(r.content) && typeof r.content.note === 'string' ? `: ${escapeHtml(r.content.note)}` : '';
    return `<strong>Transcript sealed</strong>${note}`;
  }
  if (r.decryption === 'failed') {
    return `<strong>Could not decrypt</strong>${r.decryptionError ? `: ${escapeHtml(r.decryptionError)}` : ''}<div class="meta">session ${escapeHtml(r.sessionId)}, sender key ${escapeHtml(r.senderKey)}</div>`;
  }
  const content = isObject(r.content) ? r.content : {};
  const rel = relation(r);
  const redacts = redactsOf(r);
  if (r.type === 'm.room.redaction') {
    const reason = typeof content.reason === 'string' ? ` (reason: ${escapeHtml(content.reason)})` : '';
    return `redacts ${link(redacts)}${reason}`;
  }
  if (r.type === 'm.reaction' && rel) {
    return `reacted ${escapeHtml(rel.key)} to ${link(rel.eventId)}`;
  }
  if (rel?.relType === 'm.replace') {
    const next = isObject(content['m.new_content']) ? content['m.new_content'] : content;
    return `<div class="meta">edit of ${link(rel.eventId)}</div><div class="body">${escapeHtml(text(next.body))}</div>`;
  }
  const call = describeCall(r, content);
  if (call !== undefined) return call;
  if (r.type === 'm.room.member') {
    const name = typeof content.displayname === 'string' ? ` (${escapeHtml(content.displayname)})` : '';
    return `${escapeHtml(r.stateKey)}${name}: ${escapeHtml(text(content.membership))}`;
  }
  if (typeof content.body === 'string') {
    const reply = rel?.inReplyTo ? `<div class="meta">in reply to ${link(rel.inReplyTo)}</div>` : '';
    const thread = rel?.relType === 'm.thread' ? `<div class="meta">in thread ${link(rel.eventId)}</div>` : '';
    const msgtype =
      typeof content.msgtype === 'string' && content.msgtype !== 'm.text'
        ? `<span class="badge">${escapeHtml(content.msgtype)}</span> `
        : '';
    return `${reply}${thread}<div class="body">${msgtype}${escapeHtml(content.body)}</div>`;
  }
  if (r.stateKey !== undefined || r.content === undefined) return '';
  return `<span class="meta">(no body)</span>`;
}

/** MatrixRTC membership (Element Call, Element X): one state event per member device; empty content = left. */
const CALL_MEMBER_TYPES = new Set(['org.matrix.msc3401.call.member', 'm.call.member', 'm.rtc.member']);
/** Legacy 1:1 call signalling (through coturn). */
const LEGACY_CALL = new Map([
  ['m.call.invite', 'placed a call'],
  ['m.call.answer', 'answered the call'],
  ['m.call.hangup', 'hung up'],
  ['m.call.reject', 'rejected the call'],
  ['m.call.select_answer', 'call connected'],
  ['m.call.negotiate', 'renegotiated the call'],
  ['m.call.candidates', 'sent network candidates'],
]);

/**
 * Calls as a reader wants them: who joined or left, when (the row's time), from which device, on which focus.
 * Media is end-to-end encrypted and never recorded; key exchange events are shown as such, not their keys.
 */
function describeCall(r: TranscriptRecord, content: Record<string, unknown>): string | undefined {
  if (r.type !== undefined && CALL_MEMBER_TYPES.has(r.type)) {
    const device = typeof content.device_id === 'string' ? content.device_id : deviceFromStateKey(r.stateKey);
    const left =
      Object.keys(content).length === 0 || (Array.isArray(content.memberships) && !content.memberships.length);
    const focus =
      isObject(content.focus_active) && typeof content.focus_active.type === 'string' ? content.focus_active.type : '';
    const what = left ? 'left the call' : 'joined the call';
    const details = [device ? `device ${escapeHtml(device)}` : '', focus ? `via ${escapeHtml(focus)}` : '']
      .filter(Boolean)
      .join(', ');
    return `<span class="badge">call</span> ${escapeHtml(r.sender)} ${what}${details ? ` <span class="meta">(${details})</span>` : ''}`;
  }
  if (r.type === 'io.element.call.encryption_keys') {
    return `<span class="badge">call</span> ${escapeHtml(r.sender)} shared call media keys <span class="meta">(media is end-to-end encrypted and not recorded)</span>`;
  }
  const legacy = r.type === undefined ? undefined : LEGACY_CALL.get(r.type);
  if (legacy !== undefined) {
    const callId =
      typeof content.call_id === 'string' ? ` <span class="meta">(call ${escapeHtml(content.call_id)})</span>` : '';
    return `<span class="badge">call</span> ${escapeHtml(r.sender)} ${legacy}${callId}`;
  }
  return undefined;
}

/** `_@user:server_DEVICE_m.call` or `@user:server_DEVICE`: the device is what follows the user id. */
function deviceFromStateKey(stateKey: string | undefined): string {
  const m = /^_?@[^:]+:[^_]+_([^_]+)/.exec(stateKey ?? '');
  return m?.[1] ?? '';
}

function media(list: MediaRef[] | undefined): string {
  if (!list?.length) return '';
  const items = list.map((m) => {
    // Only a validated hex hash ever reaches the href.
    const href = SHA256_HEX.test(m.sha256) ? `media/${m.sha256}` : '#';
    return `<li><a href="${href}" rel="noopener noreferrer">media/${escapeHtml(m.sha256.slice(0, 16))}…</a> ${escapeHtml(m.mimetype ?? '')} ${m.bytes} bytes <span class="meta">${escapeHtml(m.mxcUri)}</span></li>`;
  });
  return `<ul class="meta">${items.join('')}</ul>`;
}

function detailsOf(r: TranscriptRecord): Record<string, unknown> {
  const { content, ciphertext, relatesTo, senderKey, sessionId, prev } = r;
  return { content, ciphertext, relatesTo, senderKey, sessionId, prev };
}

function json(v: unknown): string {
  return JSON.stringify(v, null, 1) ?? '';
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function relation(
  r: TranscriptRecord,
): { relType?: string; eventId?: string; key?: string; inReplyTo?: string } | undefined {
  const rel = isObject(r.relatesTo) ? r.relatesTo : isObject(r.content) ? r.content['m.relates_to'] : undefined;
  if (!isObject(rel)) return undefined;
  const reply = isObject(rel['m.in_reply_to']) ? rel['m.in_reply_to'].event_id : undefined;
  return {
    relType: typeof rel.rel_type === 'string' ? rel.rel_type : undefined,
    eventId: typeof rel.event_id === 'string' ? rel.event_id : undefined,
    key: typeof rel.key === 'string' ? rel.key : undefined,
    inReplyTo: typeof reply === 'string' ? reply : undefined,
  };
}

function redactsOf(r: TranscriptRecord): string | undefined {
  if (r.type !== 'm.room.redaction') return undefined;
  if (isObject(r.content) && typeof r.content.redacts === 'string') return r.content.redacts;
  if (isObject(r.relatesTo) && typeof r.relatesTo.redacts === 'string') return r.relatesTo.redacts;
  return undefined;
}

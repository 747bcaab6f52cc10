// The channel list as served: built once per cache version and filter, rendered once per second (the countdowns),
// and kept as bytes (plain and gzip) with a content ETag, so a request costs a lookup and a socket write. At 500
// channels the JSON is ~120 KB: building, checking and encoding it per request was the status API's latency.
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { KubeObject } from '../kube/objects.ts';
import { ChannelSummary, type PhaseSchema } from './channel-schemas.ts';
import { channelPhase, toChannelSummary } from './channel-view.ts';
import { HttpError } from './errors.ts';

type Phase = (typeof PhaseSchema)['options'][number];
type Summary = ReturnType<typeof toChannelSummary>;

export interface ChannelListSource {
  list(): KubeObject[];
  /** Changes whenever the set changes; without one every request builds its own list. */
  readonly version?: number;
}

export interface ListRequest {
  phase?: Phase;
  /** At most this many items; the rest is reachable with the returned `continue` token (as the apiserver pages). */
  limit?: number;
  /** The token of the previous page: the items after the last name it returned. */
  continue?: string;
}

export interface RenderedList {
  body: Buffer;
  /** A strong ETag of the plain body: the same bytes have the same tag, whatever the version or second. */
  etag: string;
  gzip(): Buffer;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
/** Bodies and filtered lists kept: enough for a few filters and pages within one second of one version. */
const MAX_ENTRIES = 32;

/** Page tokens name the last item served, so a page stays valid across cache changes (items after it, by name). */
export function encodeContinue(lastName: string): string {
  return Buffer.from(JSON.stringify({ after: lastName })).toString('base64url');
}

function decodeContinue(token: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (parsed && typeof parsed === 'object' && 'after' in parsed && typeof parsed.after === 'string') {
      return parsed.after;
    }
  } catch {
    // fall through: not ours
  }
  throw new HttpError(400, 'querystring/continue: not a continue token this API issued');
}

export class ChannelListCache {
  readonly #source: ChannelListSource;
  /** Validated summaries (without the countdown), sorted by name, per version and phase filter. */
  readonly #lists = new Map<string, { items: Omit<Summary, 'secondsLeft'>[]; expires: (number | undefined)[] }>();
  readonly #bodies = new Map<string, RenderedList>();
  /** Version numbers restart with the process; the ETag is a content hash, this only keys the caches. */
  readonly #boot = randomBytes(4).toString('hex');

  constructor(source: ChannelListSource) {
    this.#source = source;
  }

  render(request: ListRequest, nowMs: number): RenderedList {
    const version = this.#source.version;
    const after = request.continue === undefined ? undefined : decodeContinue(request.continue);
    const key = `${this.#boot}|${version}|${request.phase ?? ''}|${Math.floor(nowMs / 1000)}|${after ?? ''}|${request.limit ?? ''}`;
    const cached = version === undefined ? undefined : this.#bodies.get(key);
    if (cached) return cached;
    const { items, expires } = this.#list(version, request.phase, nowMs);
    let start = 0;
    if (after !== undefined) {
      // Binary search: the first name after the token's.
      let hi = items.length;
      while (start < hi) {
        const mid = (start + hi) >> 1;
        if ((items[mid]?.name ?? '') <= after) start = mid + 1;
        else hi = mid;
      }
    }
    const end = request.limit === undefined ? items.length : Math.min(items.length, start + request.limit);
    const page: Summary[] = [];
    for (let i = start; i < end; i++) {
      const item = items[i];
      if (!item) continue;
      const expiresAt = expires[i];
      page.push(
        expiresAt === undefined ? item : { ...item, secondsLeft: Math.max(0, Math.floor((expiresAt - nowMs) / 1000)) },
      );
    }
    const more = end < items.length;
    const list = {
      items: page,
      count: page.length,
      ...(more
        ? { continue: encodeContinue(page.at(-1)?.name ?? after ?? ''), remainingItemCount: items.length - end }
        : {}),
    };
    const body = Buffer.from(JSON.stringify(list));
    let gz: Buffer | undefined;
    const rendered: RenderedList = {
      body,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      // Level 1: JSON this repetitive shrinks ~10x anyway, and the body is compressed once for every reader.
      gzip: () => {
        gz ??= gzipSync(body, { level: 1 });
        return gz;
      },
    };
    if (version !== undefined) {
      if (this.#bodies.size >= MAX_ENTRIES) this.#bodies.clear();
      this.#bodies.set(key, rendered);
    }
    return rendered;
  }

  #list(version: number | undefined, phase: Phase | undefined, nowMs: number) {
    const key = `${version}|${phase ?? ''}`;
    const known = version === undefined ? undefined : this.#lists.get(key);
    if (known) return known;
    // Every item goes through the response schema once per version: whatever the cache holds, only the fields it
    // allows leave the process (zod drops unknown keys). The countdown is added per second, a non-negative integer.
    const items = this.#source
      .list()
      .filter((c) => phase === undefined || channelPhase(c) === phase)
      .map((c) => {
        const { secondsLeft: _countdown, ...rest } = ChannelSummary.parse(toChannelSummary(c, nowMs));
        return rest;
      })
      .sort(byName);
    const expires = items.map((i) => (i.expiresAt === undefined ? undefined : Date.parse(i.expiresAt)));
    const built = { items, expires };
    if (version !== undefined) {
      if (this.#lists.size >= MAX_ENTRIES) this.#lists.clear();
      this.#lists.set(key, built);
    }
    return built;
  }
}

/** RFC 9110 If-None-Match: `*` or a list of (weak or strong) tags; weak comparison, as GET allows. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}

/** Whether the client takes gzip (`Accept-Encoding: gzip`, not `gzip;q=0`). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  for (const part of header.toLowerCase().split(',')) {
    const [coding, ...params] = part.trim().split(';');
    if (coding?.trim() !== 'gzip' && coding?.trim() !== '*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

// A list response (`{"kind":"PodList","metadata":{…},"items":[{…},{…}]}`) read as it arrives: each element of the
// top-level `items` array is parsed on its own and handed over at once, so the caller can project it and drop it.
// A whole page of 500 full objects, read as one string and parsed in one go, is several MiB of string and tens of
// MiB of objects alive at the same moment; V8 then keeps that peak as allocated old space. Here at most one item's
// bytes and objects are alive at a time.

/** What is left of the document once its items are taken out: `{"kind":…,"metadata":{…},"items":[]}`. */
export type ListEnvelope = Record<string, unknown> & { metadata?: { resourceVersion?: string; continue?: string } };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const ITEMS = Buffer.from('items');

/**
 * A byte-level scanner for one JSON document. It only tracks strings and nesting (UTF-8 multi-byte sequences never
 * contain ASCII bytes, so scanning bytes is safe); JSON.parse does the real parsing, one item at a time.
 */
export class ListStreamParser {
  readonly #onItem: (item: unknown) => void;
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** Bytes of the string being read at depth 1 (a key or a short value), to recognise the `items` key. */
  #key: number[] | undefined;
  #lastKey: Buffer = Buffer.alloc(0);
  #mode: 'envelope' | 'between-items' | 'item' = 'envelope';
  readonly #envelope: Buffer[] = [];
  #item: Buffer[] = [];

  constructor(onItem: (item: unknown) => void) {
    this.#onItem = onItem;
  }

  push(chunk: Buffer): void {
    // Start of the current run of bytes that belongs to the envelope or to the item being read.
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (b === BACKSLASH) this.#escaped = true;
        else if (b === QUOTE) {
          this.#inString = false;
          if (this.#key) {
            this.#lastKey = Buffer.from(this.#key);
            this.#key = undefined;
          }
        } else if (this.#key && this.#key.length < 16) this.#key.push(b);
        continue;
      }
      if (b === QUOTE) {
        this.#inString = true;
        if (this.#depth === 1) this.#key = [];
        continue;
      }
      if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        this.#depth++;
        if (this.#mode === 'envelope' && this.#depth === 2 && b === OPEN_BRACKET && this.#lastKey.equals(ITEMS)) {
          this.#envelope.push(chunk.subarray(from, i + 1));
          this.#mode = 'between-items';
        } else if (this.#mode === 'between-items' && this.#depth === 3) {
          this.#mode = 'item';
          from = i;
        }
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        if (this.#mode === 'item' && this.#depth === 3) {
          this.#item.push(chunk.subarray(from, i + 1));
          this.#emit();
          this.#mode = 'between-items';
        } else if (this.#mode === 'between-items' && this.#depth === 2) {
          this.#mode = 'envelope';
          from = i;
        }
        this.#depth--;
      }
    }
    if (this.#mode === 'envelope') this.#envelope.push(chunk.subarray(from));
    else if (this.#mode === 'item') this.#item.push(chunk.subarray(from));
  }

  /** The document without its items; throws when the document is incomplete or not JSON. */
  end(): ListEnvelope {
    if (this.#depth !== 0 || this.#mode !== 'envelope') throw new Error('list response ended mid-document');
    const parsed: unknown = JSON.parse(Buffer.concat(this.#envelope).toString('utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new Error('list response is not an object');
    return parsed as ListEnvelope;
  }

  #emit(): void {
    const bytes = this.#item.length === 1 ? (this.#item[0] as Buffer) : Buffer.concat(this.#item);
    this.#item = [];
    this.#onItem(JSON.parse(bytes.toString('utf8')));
  }
}

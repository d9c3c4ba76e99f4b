// tickcast-books.js: a client-side L2 book for tickcast's native protocol (docs/dashboard.md).
// Levels are exact scaled BigInts; decimals grow to the finest string seen, so bids()/asks()
// give back the canonical strings the server sends and the Kraken v2 CRC32 of the top 10 levels
// can be recomputed after every message that carries a checksum. No DOM: runs in Node too.

export const CHECKSUM_DEPTH = 10;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32 (IEEE, as zlib.crc32) of an ASCII string, unsigned. */
export function crc32(text) {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function digits(text) {
  return text.replace(".", "").replace(/^0+/, "");
}

/** The Kraken v2 checksum of [price, size] string levels, each side best first. */
export function checksumOfStrings(bids, asks) {
  const parts = [];
  for (const side of [asks.slice(0, CHECKSUM_DEPTH), bids.slice(0, CHECKSUM_DEPTH)]) {
    for (const [price, size] of side) parts.push(digits(price) + digits(size));
  }
  return crc32(parts.join(""));
}

const DECIMAL = /^-?\d+(\.\d+)?$/;

function decimalsOf(text) {
  const dot = text.indexOf(".");
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** A decimal string as a BigInt scaled by 10^decimals (the string may have fewer decimals). */
export function parseFixed(text, decimals) {
  if (!DECIMAL.test(text)) throw new Error(`not a decimal number: ${JSON.stringify(text)}`);
  const [whole, frac = ""] = text.split(".");
  if (frac.length > decimals) throw new Error(`${text} has more than ${decimals} decimals`);
  return BigInt(whole + frac.padEnd(decimals, "0"));
}

/** A scaled BigInt as a decimal string with exactly `decimals` decimals. */
export function formatFixed(value, decimals) {
  const negative = value < 0n;
  let text = (negative ? -value : value).toString().padStart(decimals + 1, "0");
  if (decimals > 0) text = `${text.slice(0, -decimals)}.${text.slice(-decimals)}`;
  return negative ? `-${text}` : text;
}

function stringLevels(data, side) {
  const raw = data[side] ?? [];
  if (!Array.isArray(raw)) throw new Error(`book data: '${side}' must be a list of [price, size]`);
  for (const level of raw) {
    const ok = Array.isArray(level) && level.length === 2 &&
      level.every((part) => typeof part === "string" && DECIMAL.test(part));
    if (!ok) throw new Error(`book data: '${side}' levels must be [price, size] strings`);
  }
  return raw;
}

/** The book of one `book:` stream; `valid` is false before a Snapshot and after a mismatch. */
export class LocalBook {
  constructor(stream) {
    this.stream = stream;
    this.epoch = null;
    this.seq = null;
    this.valid = false;
    this.priceDecimals = 0;
    this.sizeDecimals = 0;
    this._bids = new Map(); // scaled price (BigInt) -> scaled size (BigInt)
    this._asks = new Map();
  }

  /** Apply a Snapshot or an Update ({type, seq, epoch?, data, checksum?}); returns a
   * mismatch {stream, seq, expected, actual} or null. Throws on malformed data. */
  apply(message) {
    const bids = stringLevels(message.data ?? {}, "bids");
    const asks = stringLevels(message.data ?? {}, "asks");
    this._widen([...bids, ...asks]);
    const parse = ([p, s]) => [parseFixed(p, this.priceDecimals), parseFixed(s, this.sizeDecimals)];
    if (message.type === "Snapshot") {
      this._bids = new Map(bids.map(parse));
      this._asks = new Map(asks.map(parse));
      this.epoch = message.epoch;
      this.valid = true;
    } else {
      for (const [side, levels] of [[this._bids, bids], [this._asks, asks]]) {
        for (const [price, size] of levels.map(parse)) {
          if (size === 0n) side.delete(price);
          else side.set(price, size);
        }
      }
    }
    this.seq = message.seq;
    if (message.checksum === undefined || message.checksum === null) return null;
    const actual = this.checksum();
    if (actual === message.checksum) return null;
    this.valid = false;
    return { stream: this.stream, seq: message.seq, expected: message.checksum, actual };
  }

  checksum() {
    return checksumOfStrings(this.bids(CHECKSUM_DEPTH), this.asks(CHECKSUM_DEPTH));
  }

  /** The best `depth` bids (all when omitted), highest first, as [price, size] strings. */
  bids(depth) {
    return this._side(this._bids, (a, b) => (a > b ? -1 : a < b ? 1 : 0), depth);
  }

  /** The best `depth` asks, lowest first. */
  asks(depth) {
    return this._side(this._asks, (a, b) => (a < b ? -1 : a > b ? 1 : 0), depth);
  }

  get size() {
    return this._bids.size + this._asks.size;
  }

  _side(levels, order, depth) {
    const prices = [...levels.keys()].sort(order).slice(0, depth ?? levels.size);
    return prices.map((p) => [
      formatFixed(p, this.priceDecimals),
      formatFixed(levels.get(p), this.sizeDecimals),
    ]);
  }

  _widen(levels) {
    const price = Math.max(this.priceDecimals, ...levels.map(([p]) => decimalsOf(p)));
    const size = Math.max(this.sizeDecimals, ...levels.map(([, s]) => decimalsOf(s)));
    const scale = (map, byPrice, bySize) => new Map([...map].map(([p, s]) =>
      [p * 10n ** BigInt(byPrice), s * 10n ** BigInt(bySize)]));
    if (price !== this.priceDecimals || size !== this.sizeDecimals) {
      const dp = price - this.priceDecimals;
      const ds = size - this.sizeDecimals;
      this._bids = scale(this._bids, dp, ds);
      this._asks = scale(this._asks, dp, ds);
      this.priceDecimals = price;
      this.sizeDecimals = size;
    }
  }
}

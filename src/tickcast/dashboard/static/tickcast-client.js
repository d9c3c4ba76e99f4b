// tickcast-client.js: a small client for tickcast's native protocol (GET /api/v1/ws).
//
//   import { TickcastClient } from "/dashboard/static/tickcast-client.js";
//   const client = new TickcastClient({ streams: ["trades:sim-btc-usd-spot"],
//     onMessage: (m) => console.log(m), onStatus: (s) => console.log(s) });
//   client.start();  ...  client.close();
//
// Like the Python SDK (docs/sdk.md) it tracks each stream's (epoch, seq), drops duplicates,
// reports holes as client-detected Gaps, keeps a LocalBook per `book:` stream and verifies every
// checksum; on a mismatch or a state-stream hole it asks for a fresh Snapshot; after a dropped
// connection it reconnects with backoff and resumes event streams with `from`. Messages given to
// onMessage: the server's Snapshot/Update/Gap, plus {type:"Reset", stream, reason} and
// {type:"ChecksumMismatch", stream, seq, expected, actual}. Documented in docs/dashboard.md.

import { LocalBook } from "./tickcast-books.js";

export { LocalBook, checksumOfStrings, crc32 } from "./tickcast-books.js";

const STATE_KINDS = new Set(["book", "quotes", "ticker", "metrics", "orders", "positions"]);

export function isStateStream(stream) {
  return STATE_KINDS.has(stream.split(":", 1)[0]);
}

/** Per-stream positions and local books; sans-I/O (handle() returns what to do). */
export class StreamTracker {
  constructor() {
    this.streams = new Map();
    this.books = new Map();
    this.stats = { updates: 0, snapshots: 0, duplicates: 0, gaps: 0, resets: 0, mismatches: 0 };
  }

  /** Track `stream`; `resume` ({epoch, seq}) seeds the position of a new event stream, so the
   * first Subscribe replays what followed it (state streams always start with a snapshot). */
  add(stream, { filtered = false, resume = null } = {}) {
    if (this.streams.has(stream)) return;
    const state = isStateStream(stream);
    const from = resume && !state ? resume : { epoch: null, seq: null };
    this.streams.set(stream, { state, filtered, epoch: from.epoch, seq: from.seq,
      awaitingSnapshot: state, resetReason: null });
    if (stream.startsWith("book:")) this.books.set(stream, new LocalBook(stream));
  }

  remove(stream) {
    this.streams.delete(stream);
    this.books.delete(stream);
  }

  /** {epoch, seq} to resume from, or null when a fresh subscription (snapshot) is wanted. */
  resumeFrom(stream) {
    const t = this.streams.get(stream);
    if (!t || t.epoch === null || t.seq === null) return null;
    if (t.state && t.awaitingSnapshot) return null;
    return { epoch: t.epoch, seq: t.seq };
  }

  /** One parsed server message → {messages, resubscribe}. */
  handle(message) {
    const out = { messages: [], resubscribe: [] };
    const t = this.streams.get(message.stream);
    if (message.type === "Subscribed") {
      for (const start of message.streams) {
        const s = this.streams.get(start.stream);
        if (s && !s.state && s.seq === null) [s.epoch, s.seq] = [start.epoch, start.seq];
      }
    } else if (!t) {
      return out;
    } else if (message.type === "Snapshot") {
      this._snapshot(message, t, out);
    } else if (message.type === "Update") {
      this._update(message, t, out);
    } else if (message.type === "Gap") {
      this._gap(message, t, out);
    }
    return out;
  }

  _snapshot(message, t, out) {
    if (!this._applyBook(message, t, out)) return;
    if (message.reset || t.resetReason !== null) {
      out.messages.push({ type: "Reset", stream: message.stream,
        reason: t.resetReason ?? "reset snapshot" });
      this.stats.resets += 1;
    }
    [t.epoch, t.seq, t.awaitingSnapshot, t.resetReason] = [message.epoch, message.seq, false, null];
    this.stats.snapshots += 1;
    out.messages.push(message);
  }

  _update(message, t, out) {
    if (t.state && t.awaitingSnapshot) return;
    const last = t.seq;
    if (last !== null && message.seq <= last) {
      this.stats.duplicates += 1;
      return;
    }
    if (last !== null && message.seq > last + 1 && !t.filtered) {
      out.messages.push({ type: "Gap", stream: message.stream, epoch: t.epoch ?? "",
        from: last + 1, to: message.seq - 1, reason: "client-detected" });
      this.stats.gaps += 1;
      out.resubscribe.push(message.stream);
      if (t.state) {
        this._invalidate(t, "client-detected gap");
        return;
      }
    }
    if (!this._applyBook(message, t, out)) return;
    t.seq = message.seq;
    this.stats.updates += 1;
    out.messages.push(message);
  }

  _gap(message, t, out) {
    out.messages.push(message);
    this.stats.gaps += 1;
    if (t.epoch !== message.epoch || t.seq === null || message.to > t.seq) {
      [t.epoch, t.seq] = [message.epoch, message.to];
    }
    if (t.state) {
      this._invalidate(t, `gap (${message.reason})`);
      out.resubscribe.push(message.stream);
    }
  }

  _applyBook(message, t, out) {
    const book = this.books.get(message.stream);
    if (!book) return true;
    let mismatch;
    try {
      mismatch = book.apply(message);
    } catch (error) {
      book.valid = false;
      this._invalidate(t, "bad book data");
      out.resubscribe.push(message.stream);
      return false;
    }
    if (mismatch === null) return true;
    this.stats.mismatches += 1;
    out.messages.push({ type: "ChecksumMismatch", ...mismatch });
    this._invalidate(t, "checksum mismatch");
    out.resubscribe.push(message.stream);
    return false;
  }

  _invalidate(t, reason) {
    t.awaitingSnapshot = true;
    t.resetReason = reason;
  }
}

/** The default endpoint: this page's origin, ws(s)://host/api/v1/ws. */
export function defaultUrl(location = globalThis.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/ws`;
}

/** A reconnecting native-protocol client. Options: url, apiKey (sent as ?api_key=; omit it in
 * the dashboard, where the HttpOnly `id` cookie authenticates), streams, depth (top N levels of
 * `book:` streams, sent in a Subscribe of their own), from ({stream: {epoch, seq}}: where event
 * streams start, e.g. a little before the head to replay recent history), WebSocket (an
 * implementation, for Node), onMessage, onStatus ("connecting" | "open" | "closed" with the
 * close code and reason), minDelayMs/maxDelayMs (backoff). */
export class TickcastClient {
  constructor(options) {
    this.options = { minDelayMs: 250, maxDelayMs: 5000, ...options };
    this.tracker = new StreamTracker();
    this.reconnects = 0;
    this._ws = null;
    this._closed = false;
    this._nextId = 1;
    this._delay = this.options.minDelayMs;
    this._timer = null;
    for (const stream of this.options.streams ?? []) this._track(stream);
  }

  /** A depth-limited `book:` view skips seqs legitimately (docs/books.md): no client gaps. */
  _track(stream) {
    this.tracker.add(stream, { filtered: Boolean(this.options.depth) && stream.startsWith("book:"),
      resume: this.options.from?.[stream] ?? null });
  }

  start() {
    this._closed = false;
    this._connect();
  }

  close() {
    this._closed = true;
    clearTimeout(this._timer);
    if (this._ws) this._ws.close(1000, "client closed");
  }

  subscribe(streams) {
    for (const stream of streams) this._track(stream);
    this._subscribe(streams);
  }

  unsubscribe(streams) {
    for (const stream of streams) this.tracker.remove(stream);
    this._send({ type: "Unsubscribe", id: this._nextId++, streams });
  }

  book(stream) {
    return this.tracker.books.get(stream);
  }

  _connect() {
    const Impl = this.options.WebSocket ?? globalThis.WebSocket;
    let url = this.options.url ?? defaultUrl();
    if (this.options.apiKey) url += `${url.includes("?") ? "&" : "?"}api_key=${encodeURIComponent(this.options.apiKey)}`;
    this._status({ status: "connecting" });
    const ws = (this._ws = new Impl(url));
    ws.onopen = () => {
      this._delay = this.options.minDelayMs;
      this._status({ status: "open" });
      this._subscribe([...this.tracker.streams.keys()]);
    };
    ws.onmessage = (event) => this._receive(event.data);
    ws.onclose = (event) => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._status({ status: "closed", code: event.code, reason: event.reason });
      if (this._closed) return;
      this.reconnects += 1;
      this._timer = setTimeout(() => this._connect(), this._delay);
      this._delay = Math.min(this._delay * 2, this.options.maxDelayMs);
    };
  }

  _subscribe(streams) {
    // `depth` applies to book streams only: they go in a Subscribe of their own
    const depth = this.options.depth;
    const books = depth ? streams.filter((s) => s.startsWith("book:")) : [];
    const others = streams.filter((s) => !books.includes(s));
    for (const [group, extra] of [[others, {}], [books, { depth }]]) {
      if (!group.length) continue;
      const message = { type: "Subscribe", id: this._nextId++, streams: group, ...extra };
      const from = {};
      for (const stream of group) {
        const position = this.tracker.resumeFrom(stream);
        if (position) from[stream] = position;
      }
      if (Object.keys(from).length) message.from = from;
      this._send(message);
    }
  }

  _send(message) {
    if (this._ws && this._ws.readyState === 1) this._ws.send(JSON.stringify(message));
  }

  _receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const tracked = ["Subscribed", "Snapshot", "Update", "Gap"].includes(message.type);
    if (!tracked) {
      this.options.onMessage?.(message);
      return;
    }
    const outcome = this.tracker.handle(message);
    for (const out of outcome.messages) this.options.onMessage?.(out);
    if (message.type === "Subscribed") this.options.onMessage?.(message);
    if (outcome.resubscribe.length) this._subscribe(outcome.resubscribe);
  }

  _status(status) {
    this.options.onStatus?.(status);
  }
}

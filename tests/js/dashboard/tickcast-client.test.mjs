// The dashboard's JavaScript client (src/tickcast/dashboard/static/tickcast-client.js) under
// Node's test runner: the same resume and checksum cases as the Python SDK's tests
// (tests/unit/client/test_tracker.py, test_books.py), plus checksums computed by the server's
// Python code (TICKCAST_VECTORS, written by tests/unit/dashboard/test_js_client.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { LocalBook, StreamTracker, TickcastClient, checksumOfStrings, crc32 } from
  "../../../src/tickcast/dashboard/static/tickcast-client.js";

const TRADES = "trades:binance-btc-usdt-spot";
const BOOK = "book:binance-btc-usdt-spot";
const QUOTES = "quotes:binance-btc-usdt-spot";
const BIDS = [["87250.50", "1.250"], ["87250.00", "0.500"]];
const ASKS = [["87251.00", "2.000"], ["87252.25", "0.010"]];

const update = (stream, seq, data = {}, checksum) =>
  checksum === undefined ? { type: "Update", stream, seq, data } : { type: "Update", stream, seq, data, checksum };
const snapshot = (stream, epoch, seq, data = {}, extra = {}) =>
  ({ type: "Snapshot", stream, epoch, seq, data, ...extra });

function trackerWith(stream, { filtered = false, seq = 5 } = {}) {
  const tracker = new StreamTracker();
  tracker.add(stream, { filtered });
  tracker.handle({ type: "Subscribed", id: 1, streams: [{ stream, epoch: "e1", seq }] });
  return tracker;
}

test("crc32 matches zlib's check value", () => {
  assert.equal(crc32("123456789"), 0xcbf43926);
});

test("checksums equal the server's (Python book_checksum) on random books", () => {
  const vectors = JSON.parse(readFileSync(process.env.TICKCAST_VECTORS, "utf8"));
  assert.ok(vectors.length >= 50);
  for (const { bids, asks, checksum } of vectors) {
    assert.equal(checksumOfStrings(bids, asks), checksum);
    const book = new LocalBook(BOOK);
    assert.equal(book.apply(snapshot(BOOK, "e1", 1, { bids, asks }, { checksum })), null);
    assert.deepEqual([book.bids(10), book.asks(10)], [bids.slice(0, 10), asks.slice(0, 10)]);
  }
});

test("event stream starts after Subscribed's seq and resumes from the last update", () => {
  const tracker = trackerWith(TRADES);
  const out = tracker.handle(update(TRADES, 6));
  assert.deepEqual(out, { messages: [update(TRADES, 6)], resubscribe: [] });
  assert.deepEqual(tracker.resumeFrom(TRADES), { epoch: "e1", seq: 6 });
});

test("duplicates are dropped and counted", () => {
  const tracker = trackerWith(TRADES);
  tracker.handle(update(TRADES, 6));
  assert.deepEqual(tracker.handle(update(TRADES, 6)).messages, []);
  assert.deepEqual(tracker.handle(update(TRADES, 3)).messages, []);
  assert.equal(tracker.stats.duplicates, 2);
  assert.equal(tracker.stats.updates, 1);
});

test("a hole in an event stream is a client-detected gap and a resubscribe", () => {
  const tracker = trackerWith(TRADES);
  const out = tracker.handle(update(TRADES, 9));
  assert.deepEqual(out.messages, [
    { type: "Gap", stream: TRADES, epoch: "e1", from: 6, to: 8, reason: "client-detected" },
    update(TRADES, 9),
  ]);
  assert.deepEqual(out.resubscribe, [TRADES]);
  assert.deepEqual(tracker.resumeFrom(TRADES), { epoch: "e1", seq: 9 });
});

test("a hole in a filtered stream is expected", () => {
  const tracker = trackerWith(TRADES, { filtered: true });
  assert.deepEqual(tracker.handle(update(TRADES, 9)), { messages: [update(TRADES, 9)], resubscribe: [] });
});

test("a hole in a state stream waits for a fresh snapshot, announced by Reset", () => {
  const tracker = trackerWith(QUOTES);
  tracker.handle(snapshot(QUOTES, "e1", 5));
  const out = tracker.handle(update(QUOTES, 8));
  assert.deepEqual(out.messages, [
    { type: "Gap", stream: QUOTES, epoch: "e1", from: 6, to: 7, reason: "client-detected" },
  ]);
  assert.deepEqual(out.resubscribe, [QUOTES]);
  assert.equal(tracker.resumeFrom(QUOTES), null);
  assert.deepEqual(tracker.handle(update(QUOTES, 9)).messages, []);
  const fresh = snapshot(QUOTES, "e1", 9);
  assert.deepEqual(tracker.handle(fresh).messages, [
    { type: "Reset", stream: QUOTES, reason: "client-detected gap" }, fresh,
  ]);
  assert.equal(tracker.stats.resets, 1);
});

test("a state stream ignores updates before its first snapshot", () => {
  assert.deepEqual(trackerWith(QUOTES).handle(update(QUOTES, 6)).messages, []);
});

test("a server Gap moves the position to the new epoch", () => {
  const tracker = trackerWith(TRADES);
  const gap = { type: "Gap", stream: TRADES, epoch: "e2", from: 1, to: 40, reason: "epoch" };
  assert.deepEqual(tracker.handle(gap).messages, [gap]);
  assert.deepEqual(tracker.resumeFrom(TRADES), { epoch: "e2", seq: 40 });
  assert.deepEqual(tracker.handle(update(TRADES, 41)).messages, [update(TRADES, 41)]);
});

test("a book checksum mismatch requests a fresh snapshot", () => {
  const tracker = trackerWith(BOOK);
  tracker.handle(snapshot(BOOK, "e1", 5, { bids: [["1.0", "1"]], asks: [] }));
  const out = tracker.handle(update(BOOK, 6, { bids: [["1.0", "2"]], asks: [] }, 1));
  assert.equal(out.messages.length, 1);
  assert.equal(out.messages[0].type, "ChecksumMismatch");
  assert.deepEqual(out.resubscribe, [BOOK]);
  assert.equal(tracker.resumeFrom(BOOK), null);
  assert.equal(tracker.books.get(BOOK).valid, false);
  assert.equal(tracker.stats.mismatches, 1);
});

test("local book: a snapshot with a matching checksum is valid, with the wire strings", () => {
  const book = new LocalBook(BOOK);
  const checksum = checksumOfStrings(BIDS, ASKS);
  assert.equal(book.apply(snapshot(BOOK, "e1", 10, { bids: BIDS, asks: ASKS }, { checksum })), null);
  assert.ok(book.valid);
  assert.deepEqual([book.bids(), book.asks()], [BIDS, ASKS]);
});

test("local book: an update deletes (size 0) and adds levels", () => {
  const book = new LocalBook(BOOK);
  book.apply(snapshot(BOOK, "e1", 10, { bids: BIDS, asks: ASKS }));
  const bids = [["87250.00", "0"], ["87249.75", "3.000"]];
  const expected = checksumOfStrings([BIDS[0], ["87249.75", "3.000"]], ASKS);
  assert.equal(book.apply(update(BOOK, 11, { bids, asks: [] }, expected)), null);
  assert.deepEqual(book.bids(), [BIDS[0], ["87249.75", "3.000"]]);
});

test("local book: a mismatch is reported and invalidates the book", () => {
  const book = new LocalBook(BOOK);
  book.apply(snapshot(BOOK, "e1", 10, { bids: BIDS, asks: ASKS }));
  const mismatch = book.apply(update(BOOK, 11, { bids: [["87250.50", "9.000"]], asks: [] }, 42));
  assert.deepEqual(mismatch, { stream: BOOK, seq: 11, expected: 42, actual: book.checksum() });
  assert.equal(book.valid, false);
});

test("local book: decimals widen to the finest string seen", () => {
  const book = new LocalBook(BOOK);
  book.apply(snapshot(BOOK, "e1", 1, { bids: [["100", "1"]], asks: [] }));
  book.apply(update(BOOK, 2, { bids: [["99.5", "0.25"]], asks: [] }));
  assert.deepEqual(book.bids(), [["100.0", "1.00"], ["99.5", "0.25"]]);
});

test("local book: malformed levels are refused", () => {
  for (const data of [{ bids: "x" }, { bids: [["1.0"]] }, { asks: [[1.0, 2.0]] }, { asks: [["abc", "1"]] }]) {
    assert.throws(() => new LocalBook(BOOK).apply(snapshot(BOOK, "e1", 1, data)));
  }
});

class FakeSocket {
  static sockets = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 0;
    FakeSocket.sockets.push(this);
  }
  open() { this.readyState = 1; this.onopen(); }
  send(text) { this.sent.push(JSON.parse(text)); }
  receive(message) { this.onmessage({ data: JSON.stringify(message) }); }
  drop(code = 1006) { this.readyState = 3; this.onclose({ code, reason: "" }); }
  close(code, reason) { this.readyState = 3; this.onclose({ code, reason }); }
}

test("client: reconnects after a drop and resumes event streams with `from`", { timeout: 5000 }, async () => {
  FakeSocket.sockets = [];
  const seen = [];
  let reconnected;
  const again = new Promise((resolve) => { reconnected = resolve; });
  const client = new TickcastClient({
    url: "ws://server/api/v1/ws", apiKey: "tc_live_x", streams: [TRADES, BOOK], WebSocket: FakeSocket,
    minDelayMs: 1, onMessage: (m) => seen.push(m),
    onStatus: (s) => { if (s.status === "connecting" && FakeSocket.sockets.length === 1) reconnected(); },
  });
  client.start();
  const first = FakeSocket.sockets[0];
  assert.equal(first.url, "ws://server/api/v1/ws?api_key=tc_live_x");
  first.open();
  assert.deepEqual(first.sent[0], { type: "Subscribe", id: 1, streams: [TRADES, BOOK] });
  first.receive({ type: "Subscribed", id: 1, streams: [
    { stream: TRADES, epoch: "e1", seq: 5 }, { stream: BOOK, epoch: "e1", seq: 3 }] });
  const checksum = checksumOfStrings(BIDS, ASKS);
  first.receive(snapshot(BOOK, "e1", 3, { bids: BIDS, asks: ASKS }, { checksum }));
  first.receive(update(TRADES, 6, { id: "t6" }));
  first.receive(update(TRADES, 7, { id: "t7" }));
  first.drop();
  await again;
  await new Promise((resolve) => {
    const poll = setInterval(() => { if (FakeSocket.sockets.length === 2) { clearInterval(poll); resolve(); } }, 1);
  });
  const second = FakeSocket.sockets[1];
  second.open();
  // the book needs a fresh snapshot only if it was invalid; a valid state stream resumes too
  assert.deepEqual(second.sent[0].from[TRADES], { epoch: "e1", seq: 7 });
  assert.equal(client.reconnects, 1);
  second.receive(update(TRADES, 7, { id: "t7" }));  // replayed duplicate: dropped
  second.receive(update(TRADES, 8, { id: "t8" }));
  const trades = seen.filter((m) => m.type === "Update" && m.stream === TRADES).map((m) => m.data.id);
  assert.deepEqual(trades, ["t6", "t7", "t8"]);
  client.close();
});

test("client: with depth, book streams are subscribed apart and their skipped seqs are no gap", () => {
  FakeSocket.sockets = [];
  const seen = [];
  const client = new TickcastClient({ url: "ws://server/api/v1/ws", streams: [TRADES, BOOK], depth: 25,
    WebSocket: FakeSocket, onMessage: (m) => seen.push(m) });
  client.start();
  const ws = FakeSocket.sockets[0];
  ws.open();
  assert.deepEqual(ws.sent, [
    { type: "Subscribe", id: 1, streams: [TRADES] },
    { type: "Subscribe", id: 2, streams: [BOOK], depth: 25 },
  ]);
  ws.receive({ type: "Subscribed", id: 2, streams: [{ stream: BOOK, epoch: "e1", seq: 3 }] });
  ws.receive(snapshot(BOOK, "e1", 3, { bids: BIDS, asks: ASKS }, { checksum: checksumOfStrings(BIDS, ASKS) }));
  const bids = [["87250.50", "2.000"], BIDS[1]];
  ws.receive(update(BOOK, 9, { bids: [bids[0]], asks: [] }, checksumOfStrings(bids, ASKS)));
  assert.deepEqual(seen.filter((m) => m.type === "Gap"), []);
  assert.equal(client.book(BOOK).seq, 9);
  assert.ok(client.book(BOOK).valid);
  client.close();
});

test("client: `from` seeds event streams, so the first Subscribe replays recent history", () => {
  FakeSocket.sockets = [];
  const client = new TickcastClient({ url: "ws://server/api/v1/ws", streams: [TRADES, QUOTES],
    from: { [TRADES]: { epoch: "e1", seq: 40 }, [QUOTES]: { epoch: "e1", seq: 40 } }, WebSocket: FakeSocket });
  client.start();
  const ws = FakeSocket.sockets[0];
  ws.open();
  // a state stream always starts from a snapshot: only the event stream resumes
  assert.deepEqual(ws.sent[0], { type: "Subscribe", id: 1, streams: [TRADES, QUOTES],
    from: { [TRADES]: { epoch: "e1", seq: 40 } } });
  ws.receive({ type: "Subscribed", id: 1, streams: [{ stream: TRADES, epoch: "e1", seq: 50 }] });
  const seen = [];
  client.options.onMessage = (m) => seen.push(m);
  ws.receive(update(TRADES, 41));
  assert.deepEqual(seen, [update(TRADES, 41)]);
  client.close();
});

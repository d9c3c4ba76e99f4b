// The Socket.IO price feed's JavaScript example (protocols README §4.1), unchanged except for
// the URL: the vendor's "https://chartinspect.com" is the tickcast server given on the command
// line. Each event is printed on one line as "<event> <JSON>" so that tests can read it.
//
// usage: node socketio-feed-example.mjs <server URL, e.g. http://127.0.0.1:8080> <apiKey>
import { io } from "socket.io-client";

const [URL, apiKey] = process.argv.slice(2);

const socket = io(URL + "/api-ws", {
  auth: { apiKey },
  transports: ["websocket"],
});

socket.on("connect", () => {
  console.log("connect", JSON.stringify({ id: socket.id }));
  // Subscribe to specific symbols only
  socket.emit("subscribe", { symbols: ["BTC", "ETH", "SOL"] }, (ack) => {
    console.log("subscribed", JSON.stringify(ack));
  });
});

// Receive all current prices on connect
socket.on("initial-prices", (prices) => {
  console.log("initial-prices", JSON.stringify(prices));
});

// Real-time price updates
socket.on("price-update", (update) => {
  console.log("price-update", JSON.stringify(update));
});

socket.on("connect_error", (err) => {
  console.log("connect_error", JSON.stringify({ message: err.message }));
});

socket.on("disconnect", (reason) => {
  console.log("disconnect", JSON.stringify({ reason }));
});

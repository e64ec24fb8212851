// A Node socket.io-client driven by the interop tests.
//
// Usage: node streams_client.js '{"url": "http://127.0.0.1:1234", "auth": {...}}'
//
// Reports {"event": "ready"} on its first connection, then {"event": "connect", "sid",
// "recovered"}, {"event": "disconnect", "reason"} and {"event": "message", "name", "args"}
// for every event it receives (acknowledged with "<name>:<event>"). Commands (see wire.js):
// dropTransport (closes the connection as a network failure would), close.

"use strict";

const { io } = require("socket.io-client");
const { send, serveCommands } = require("./wire");

const options = JSON.parse(process.argv[2] || "{}");
const socket = io(options.url, {
  transports: ["websocket"],
  auth: options.auth || {},
  reconnectionDelay: 500,
  reconnectionDelayMax: 500,
});

let ready = false;
socket.on("connect", () => {
  send({ event: "connect", sid: socket.id, recovered: socket.recovered });
  if (!ready) {
    ready = true;
    send({ event: "ready" });
  }
});
socket.on("disconnect", (reason) => send({ event: "disconnect", reason }));
socket.onAny((event, ...args) => {
  const callback = typeof args[args.length - 1] === "function" ? args.pop() : null;
  send({ event: "message", name: event, args });
  if (callback) {
    callback(`${options.name || "node-client"}:${event}`);
  }
});

serveCommands({
  async dropTransport() {
    socket.io.engine.close();
    return true;
  },
  async close() {
    socket.disconnect();
    setTimeout(() => process.exit(0), 50);
    return true;
  },
});

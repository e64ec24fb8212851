// A group of socket.io-client websocket clients of one server: counts and times every
// "tick" event they receive (see control.mjs for the commands).
//   node clients.mjs --url http://127.0.0.1:PORT --count 50
import { io } from "socket.io-client";
import { Tally, emit, onCommands, option } from "./control.mjs";

const url = option("url");
const count = Number(option("count", "50"));
const connectTimeoutMs = Number(option("connect-timeout", "30000"));
const tally = new Tally(count);
const sockets = [];

async function connectOne(index) {
  const socket = io(url, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    timeout: connectTimeoutMs,
  });
  socket.on("tick", (payload) => tally.record(index, payload));
  sockets.push(socket);
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

async function connectAll() {
  // a few handshakes at a time: a storm of simultaneous connects only measures the backlog
  const parallel = 10;
  for (let first = 0; first < count; first += parallel) {
    const batch = [];
    for (let index = first; index < Math.min(count, first + parallel); index++) {
      batch.push(connectOne(index));
    }
    await Promise.all(batch);
  }
}

onCommands(async (command) => {
  if (tally.handle(command)) return;
  if (command.cmd === "exit") {
    for (const socket of sockets) socket.disconnect();
  }
});

const timer = setTimeout(() => {
  emit("error", { error: `clients not connected within ${connectTimeoutMs} ms` });
  process.exit(1);
}, connectTimeoutMs);
connectAll().then(
  () => {
    clearTimeout(timer);
    emit("ready", { clients: count });
  },
  (error) => {
    emit("error", { error: `connect failed: ${error && error.message ? error.message : error}` });
    process.exit(1);
  },
);

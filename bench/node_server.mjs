// A Node socket.io server on one of the Redis adapters or the Postgres adapter; it broadcasts
// "tick" on command.
//   node node_server.mjs --adapter streams|redis|postgres --port P --key PREFIX
//     [--redis-url URL] [--postgres-url URL]
// For the scale measurements (bench/scale.py) it also takes the commands of bench/pynode.py:
// loopback, await_nodes, fetch, ack.
import { EventEmitter } from "node:events";
import { createServer } from "node:http";
import { createAdapter as createRedisAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createPostgresAdapter } from "@socket.io/postgres-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import pg from "pg";
import { createClient } from "redis";
import { Server } from "socket.io";
import { performance } from "node:perf_hooks";
import { Sender, emit, onCommands, option } from "./control.mjs";

const adapterName = option("adapter", "streams");
const port = Number(option("port"));
const key = option("key", "socket.io");
const redisUrl = option("redis-url", "redis://127.0.0.1:6379");
const padding = Number(option("padding", "100"));

const postgresUrl = option("postgres-url", "postgresql://postgres@127.0.0.1:5432/test");

let client;
if (adapterName !== "postgres") {
  client = createClient({ url: redisUrl });
  client.on("error", (error) => emit("log", { error: String(error) }));
  await client.connect();
}

let adapter;
if (adapterName === "postgres") {
  const pool = new pg.Pool({ connectionString: postgresUrl });
  pool.on("error", (error) => emit("log", { error: String(error) }));
  await pool.query(
    "CREATE TABLE IF NOT EXISTS socket_io_attachments " +
      "(id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)",
  );
  adapter = createPostgresAdapter(pool, { channelPrefix: key });
} else if (adapterName === "streams") {
  adapter = createStreamsAdapter(client, { streamName: key, channelPrefix: key });
} else if (adapterName === "redis") {
  const subscriber = client.duplicate();
  subscriber.on("error", (error) => emit("log", { error: String(error) }));
  await subscriber.connect();
  adapter = createRedisAdapter(client, subscriber, { key });
} else {
  throw new Error(`unknown adapter ${adapterName}`);
}

const httpServer = createServer();
const io = new Server(httpServer, { adapter, transports: ["websocket"] });
const sender = new Sender((payload) => io.emit("tick", payload), padding);

/**
 * An Engine.IO connection without a network: handed to socket.io as engine.io would hand a
 * websocket connection; what the server writes is read at once, and every event asking for
 * an acknowledgement is answered "ok" (as bench/loopback.py does for Python nodes).
 */
class LoopbackConnection extends EventEmitter {
  constructor(id, index) {
    super();
    this.id = id;
    this.protocol = 4;
    this.readyState = "open";
    this.remoteAddress = "127.0.0.1";
    this.transport = { name: "websocket", writable: true };
    this.request = {
      headers: { host: "127.0.0.1", "user-agent": "loopback" },
      connection: { encrypted: false },
      url: `/socket.io/?EIO=4&transport=websocket&i=${index}`,
      _query: { EIO: "4", transport: "websocket", i: String(index) },
    };
  }

  write(data) {
    if (typeof data !== "string" || data[0] !== "2") return;
    let end = 1;
    while (end < data.length && data[end] >= "0" && data[end] <= "9") end++;
    if (end > 1) {
      const ack = `3${data.slice(1, end)}["ok"]`;
      setImmediate(() => this.emit("data", ack));
    }
  }

  close() {
    this.readyState = "closed";
    this.emit("close", "forced close");
  }
}

let loopbackCount = 0;
let pendingRooms = null;
io.on("connection", (socket) => {
  if (pendingRooms !== null) {
    const index = Number(socket.handshake.query.i);
    socket.join(`room-${index % pendingRooms}`);
  }
});

async function connectLoopback(count, rooms) {
  const started = performance.now();
  pendingRooms = rooms || null;
  const nsp = io.of("/");
  const target = nsp.sockets.size + count;
  for (let i = 0; i < count; i++) {
    const conn = new LoopbackConnection(`loopback-${loopbackCount}`, loopbackCount);
    loopbackCount++;
    io.engine.emit("connection", conn);
    conn.emit("data", "0");
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
  }
  while (nsp.sockets.size < target) await new Promise((resolve) => setTimeout(resolve, 5));
  emit("loopback", { count, seconds: (performance.now() - started) / 1000 });
}

async function awaitNodes(count, timeout) {
  const deadline = Date.now() + timeout * 1000;
  let seen = 0;
  while (Date.now() < deadline) {
    seen = await io.of("/").adapter.serverCount();
    if (seen >= count) {
      emit("nodes", { count: seen });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  emit("error", { error: `only ${seen} of ${count} nodes after ${timeout} s` });
}

async function timeFetch(repeat, room) {
  const times = [];
  let found = 0;
  for (let i = 0; i < repeat; i++) {
    const started = performance.now();
    const sockets = room ? await io.in(room).fetchSockets() : await io.fetchSockets();
    times.push((performance.now() - started) / 1000);
    found = sockets.length;
  }
  emit("fetch", { times_s: times, sockets: found, room: room ?? null });
}

async function timeAck(repeat, timeout) {
  const times = [];
  let replies = 0;
  for (let i = 0; i < repeat; i++) {
    const started = performance.now();
    const answers = await io.timeout(timeout * 1000).emitWithAck("question", i);
    times.push((performance.now() - started) / 1000);
    replies = answers.length;
  }
  emit("ack", { times_s: times, replies });
}

onCommands(async (command) => {
  if (command.cmd === "send") await sender.run(command);
  else if (command.cmd === "loopback") await connectLoopback(command.count, command.rooms);
  else if (command.cmd === "await_nodes") await awaitNodes(command.count, command.timeout ?? 30);
  else if (command.cmd === "fetch") await timeFetch(command.repeat, command.room);
  else if (command.cmd === "ack") await timeAck(command.repeat, command.timeout ?? 60);
  else if (command.cmd === "stop") sender.stopped = true;
  else if (command.cmd === "exit") {
    io.close();
    if (client) await client.quit().catch(() => {});
  }
});

httpServer.listen(port, "127.0.0.1", () => emit("ready", { port, pid: process.pid }));

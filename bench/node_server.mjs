// A Node socket.io server on one of the Redis adapters or the Postgres adapter; it broadcasts
// "tick" on command.
//   node node_server.mjs --adapter streams|redis|postgres --port P --key PREFIX
//     [--redis-url URL] [--postgres-url URL]
import { createServer } from "node:http";
import { createAdapter as createRedisAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createPostgresAdapter } from "@socket.io/postgres-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import pg from "pg";
import { createClient } from "redis";
import { Server } from "socket.io";
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

onCommands(async (command) => {
  if (command.cmd === "send") await sender.run(command);
  else if (command.cmd === "stop") sender.stopped = true;
  else if (command.cmd === "exit") {
    io.close();
    if (client) await client.quit().catch(() => {});
  }
});

httpServer.listen(port, "127.0.0.1", () => emit("ready", { port, pid: process.pid }));

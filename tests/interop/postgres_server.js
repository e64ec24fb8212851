// A Node Socket.IO server on @socket.io/postgres-adapter, driven by the interop tests; it
// also drives a @socket.io/postgres-emitter on the same database.
//
// Usage: node postgres_server.js '{"dsn": ..., "channelPrefix": ..., "tableName": ...,
//                                  "namespaces": ["/"], "name": "node-1"}'
//
// Commands on stdin, results and events on stdout (see wire.js). It reports
// {"event": "ready", "port": 1234} once the adapter's connection LISTENs on the channel of
// every namespace, then {"event": ...} for what happens (connections, server-side emits).

"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { Pool } = require("pg");
const { createAdapter } = require("@socket.io/postgres-adapter");
const { Emitter } = require("@socket.io/postgres-emitter");
const { answerServerEvents, clusterCommands } = require("./cluster_commands");
const { send, serveCommands } = require("./wire");

const options = JSON.parse(process.argv[2] || "{}");
const namespaces = options.namespaces || ["/"];
const applicationName = `sio-interop-${process.pid}`;

async function main() {
  const pool = new Pool({ connectionString: options.dsn, application_name: applicationName });
  pool.on("error", () => {});
  const adapterOptions = {
    channelPrefix: options.channelPrefix,
    tableName: options.tableName,
    errorHandler: (err) => send({ event: "adapterError", message: String(err && err.message) }),
  };
  if (options.heartbeatInterval) adapterOptions.heartbeatInterval = options.heartbeatInterval;
  if (options.heartbeatTimeout) adapterOptions.heartbeatTimeout = options.heartbeatTimeout;

  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pool, adapterOptions) });
  const emitterOptions = { channelPrefix: options.channelPrefix, tableName: options.tableName };

  function emitterFor(args) {
    // Emitter.of() drops the options: build one per namespace instead
    let operator = new Emitter(pool, args.nsp || "/", emitterOptions);
    if (args.rooms && args.rooms.length) operator = operator.to(args.rooms);
    if (args.except && args.except.length) operator = operator.except(args.except);
    return operator;
  }

  for (const name of namespaces) {
    const nsp = io.of(name);
    nsp.on("connection", (socket) => {
      const auth = socket.handshake.auth || {};
      socket.data = { origin: "node", name: auth.name || null };
      for (const room of auth.rooms || []) {
        socket.join(room);
      }
      send({ event: "connection", nsp: name, sid: socket.id, name: auth.name || null });
      socket.on("disconnect", (reason) => {
        send({ event: "disconnect", nsp: name, sid: socket.id, reason });
      });
    });
    answerServerEvents(nsp, name, options.name);
  }

  const commands = {
    ...clusterCommands(io),
    async emitterEmit(args) {
      emitterFor(args).emit(args.event, ...(args.args || []));
      return true;
    },
    async emitterSocketsJoin(args) {
      emitterFor(args).socketsJoin(args.join);
      return true;
    },
    async emitterSocketsLeave(args) {
      emitterFor(args).socketsLeave(args.leave);
      return true;
    },
    async emitterDisconnectSockets(args) {
      emitterFor(args).disconnectSockets(!!args.close);
      return true;
    },
    async emitterServerSideEmit(args) {
      emitterFor(args).serverSideEmit(args.event, ...(args.args || []));
      return true;
    },
    async close() {
      io.close();
      setTimeout(() => process.exit(0), 100);
      return true;
    },
  };

  serveCommands(commands);

  // The adapter acquires its listening client and LISTENs in the background; report ready
  // only once PostgreSQL shows that client's LISTEN on every namespace's channel, so that no
  // message sent after "ready" can be missed.
  const channels = namespaces.map((name) => `${options.channelPrefix || "socket.io"}#${name}`);
  for (;;) {
    const { rows } = await pool.query(
      "SELECT query FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
      [applicationName],
    );
    const last = rows.map((row) => row.query);
    if (last.some((query) => query === `LISTEN "${channels[channels.length - 1]}"`)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  httpServer.listen(options.port || 0, "127.0.0.1", () => {
    send({ event: "ready", port: httpServer.address().port });
  });
}

main().catch((e) => {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});

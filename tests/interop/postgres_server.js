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
const { send, serveCommands } = require("./wire");

const options = JSON.parse(process.argv[2] || "{}");
const namespaces = options.namespaces || ["/"];
const applicationName = `sio-interop-${process.pid}`;

function describe(socket) {
  return {
    id: socket.id,
    rooms: [...socket.rooms].sort(),
    data: socket.data,
    handshake: socket.handshake,
  };
}

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
    // server-side emits from other servers of the cluster
    for (const event of ["hello", "ping"]) {
      nsp.on(event, (...args) => {
        const callback = typeof args[args.length - 1] === "function" ? args.pop() : null;
        send({ event: "serverSideEmit", nsp: name, name: event, args, withAck: !!callback });
        if (callback) {
          callback(`${options.name}:${event}`);
        }
      });
    }
  }

  function select(args) {
    let operator = io.of(args.nsp || "/");
    if (args.rooms && args.rooms.length) operator = operator.to(args.rooms);
    if (args.except && args.except.length) operator = operator.except(args.except);
    if (args.timeout) operator = operator.timeout(args.timeout);
    return operator;
  }

  async function remoteSocket(args) {
    const [socket] = await io.of(args.nsp || "/").in(args.sid).fetchSockets();
    if (!socket) throw new Error(`no socket ${args.sid}`);
    return socket;
  }

  const commands = {
    async emit(args) {
      select(args).emit(args.event, ...(args.args || []));
      return true;
    },
    async emitWithAck(args) {
      return await select(args).emitWithAck(args.event, ...(args.args || []));
    },
    async fetchSockets(args) {
      const sockets = await select(args).fetchSockets();
      return sockets.map(describe).sort((a, b) => (a.id < b.id ? -1 : 1));
    },
    async localSockets(args) {
      return [...io.of(args.nsp || "/").sockets.values()].map(describe);
    },
    async socketsJoin(args) {
      select(args).socketsJoin(args.join);
      return true;
    },
    async socketsLeave(args) {
      select(args).socketsLeave(args.leave);
      return true;
    },
    async disconnectSockets(args) {
      select(args).disconnectSockets(!!args.close);
      return true;
    },
    async remoteJoin(args) {
      (await remoteSocket(args)).join(args.room);
      return true;
    },
    async remoteLeave(args) {
      (await remoteSocket(args)).leave(args.room);
      return true;
    },
    async remoteDisconnect(args) {
      (await remoteSocket(args)).disconnect(!!args.close);
      return true;
    },
    async remoteEmit(args) {
      (await remoteSocket(args)).emit(args.event, ...(args.args || []));
      return true;
    },
    async serverSideEmit(args) {
      io.of(args.nsp || "/").serverSideEmit(args.event, ...(args.args || []));
      return true;
    },
    async serverSideEmitWithAck(args) {
      return await io.of(args.nsp || "/").serverSideEmitWithAck(args.event, ...(args.args || []));
    },
    async serverCount(args) {
      return await io.of(args.nsp || "/").adapter.serverCount();
    },
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

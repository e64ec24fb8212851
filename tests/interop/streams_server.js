// A Node Socket.IO server on @socket.io/redis-streams-adapter, driven by the interop tests.
//
// Usage: node streams_server.js '{"redisUrl": ..., "streamName": ..., "channelPrefix": ...,
//                                 "namespaces": ["/"], "name": "node-1"}'
//
// Commands on stdin, results and events on stdout (see wire.js). It reports
// {"event": "ready", "port": 1234} once the adapter reads the stream and listens to its
// channels, then {"event": ...} for what happens (connections, server-side emits).
// With "recovery": true the server has connection state recovery on (sessions under
// "sessionKeyPrefix"); a recovered socket keeps its restored data and rooms.

"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { send, serveCommands } = require("./wire");

const options = JSON.parse(process.argv[2] || "{}");
const namespaces = options.namespaces || ["/"];
const clientName = `sio-interop-${process.pid}`;

function describe(socket) {
  return {
    id: socket.id,
    rooms: [...socket.rooms].sort(),
    data: socket.data,
    handshake: socket.handshake,
  };
}

async function main() {
  const redis = createClient({ url: options.redisUrl, name: clientName });
  redis.on("error", () => {});
  await redis.connect();

  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    connectionStateRecovery: options.recovery ? { maxDisconnectionDuration: 120000 } : undefined,
    adapter: createAdapter(redis, {
      streamName: options.streamName,
      channelPrefix: options.channelPrefix,
      streamCount: options.streamCount || 1,
      sessionKeyPrefix: options.sessionKeyPrefix || "sio:session:",
    }),
  });

  for (const name of namespaces) {
    const nsp = io.of(name);
    nsp.on("connection", (socket) => {
      const auth = socket.handshake.auth || {};
      // a recovered socket has its data and rooms back already
      if (!socket.recovered) {
        socket.data = { origin: "node", name: auth.name || null };
        for (const room of auth.rooms || []) {
          socket.join(room);
        }
      }
      send({
        event: "connection",
        nsp: name,
        sid: socket.id,
        name: auth.name || null,
        recovered: socket.recovered,
      });
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
    async close() {
      io.close();
      setTimeout(() => process.exit(0), 100);
      return true;
    },
  };

  serveCommands(commands);

  // The adapter starts reading the stream ("$") and subscribing in the background; report
  // ready only once Redis shows this process blocked in XREAD and subscribed, so that no
  // message sent after "ready" can be missed.
  for (;;) {
    const clients = String(await redis.sendCommand(["CLIENT", "LIST"]));
    const mine = clients.split("\n").filter((line) => line.includes(`name=${clientName} `));
    const reading = mine.some((line) => / cmd=xread /.test(line));
    const subscribed = mine.some((line) => / cmd=subscribe /.test(line));
    if (reading && subscribed) break;
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

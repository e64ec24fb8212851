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
const { answerServerEvents, clusterCommands } = require("./cluster_commands");
const { send, serveCommands } = require("./wire");

const options = JSON.parse(process.argv[2] || "{}");
const namespaces = options.namespaces || ["/"];
const clientName = `sio-interop-${process.pid}`;

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
    answerServerEvents(nsp, name, options.name);
  }

  const commands = {
    ...clusterCommands(io),
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

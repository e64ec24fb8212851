// Many socket.io-client sockets in one process, for the connection state recovery tests.
//
// Usage: node recovery_clients.js '{}'
//
// Each socket has a key; it records every event it receives (arguments, offset included)
// and each connection ({sid, recovered}). Commands (see wire.js):
//   open {key, url, auth, count}   sockets key, or key-0 .. key-<count-1>; resolves once all
//                                  are connected
//   hold {keys}                    close the transport as a network failure would, and stay
//                                  away until released
//   stayAway {keys}                no reconnection after the next disconnection (the server's),
//                                  until released
//   release {keys, url}            reconnect (to url if given), as the client's reconnection
//                                  would; resolves once all are connected again
//   emit {key, event, args}        client-to-server event, resolves with the acknowledgement
//   state {key}                    {connected, sid, connections, received}
//   summary {keys}                 per socket: connections count, whether the last one
//                                  recovered and kept the first sid, the first argument of
//                                  every event received
//   close                          disconnect everything and exit

"use strict";

const { io } = require("socket.io-client");
const { send, serveCommands } = require("./wire");

const sockets = new Map();

function record(key, socket) {
  const entry = { socket, connections: [], received: [] };
  socket.on("connect", () => {
    entry.connections.push({ sid: socket.id, recovered: socket.recovered });
  });
  socket.onAny((event, ...args) => {
    entry.received.push([event, ...args]);
  });
  sockets.set(key, entry);
  return entry;
}

function keysOf(args) {
  if (args.keys) return args.keys;
  if (args.count) return [...Array(args.count).keys()].map((i) => `${args.key}-${i}`);
  return [args.key];
}

function connectedAgain(entry, before) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no reconnection in 15 s")), 15000);
    const check = () => {
      if (entry.socket.connected && entry.connections.length > before) {
        clearTimeout(timer);
        resolve();
      } else {
        setTimeout(check, 10);
      }
    };
    check();
  });
}

serveCommands({
  async open(args) {
    const waits = [];
    for (const key of keysOf(args)) {
      const socket = io(args.url, {
        forceNew: true,
        transports: ["websocket"],
        auth: args.auth || {},
        reconnectionDelay: 100,
        reconnectionDelayMax: 200,
      });
      waits.push(connectedAgain(record(key, socket), 0));
    }
    await Promise.all(waits);
    return true;
  },
  async hold(args) {
    for (const key of keysOf(args)) {
      const { socket } = sockets.get(key);
      socket.io.reconnection(false);
      socket.io.engine.close();
    }
    return true;
  },
  async stayAway(args) {
    for (const key of keysOf(args)) {
      sockets.get(key).socket.io.reconnection(false);
    }
    return true;
  },
  async release(args) {
    const waits = [];
    for (const key of keysOf(args)) {
      const entry = sockets.get(key);
      const manager = entry.socket.io;
      if (args.url) manager.uri = args.url;
      manager.reconnection(true);
      waits.push(connectedAgain(entry, entry.connections.length));
      entry.socket.connect();
    }
    await Promise.all(waits);
    return true;
  },
  async emit(args) {
    const { socket } = sockets.get(args.key);
    return await socket.timeout(10000).emitWithAck(args.event, ...(args.args || []));
  },
  async state(args) {
    const entry = sockets.get(args.key);
    return {
      connected: entry.socket.connected,
      sid: entry.socket.id || null,
      connections: entry.connections,
      received: entry.received,
    };
  },
  async summary(args) {
    const result = {};
    for (const key of keysOf(args)) {
      const entry = sockets.get(key);
      const last = entry.connections[entry.connections.length - 1] || {};
      result[key] = {
        connections: entry.connections.length,
        recovered: !!last.recovered,
        sameSid: last.sid === (entry.connections[0] || {}).sid,
        // the first argument of each event only: lines stay short with hundreds of sockets
        received: entry.received.map((args) => args[1]),
      };
    }
    return result;
  },
  async close() {
    for (const { socket } of sockets.values()) socket.disconnect();
    setTimeout(() => process.exit(0), 50);
    return true;
  },
});

send({ event: "ready" });

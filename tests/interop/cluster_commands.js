// What every Node server of the interop tests does, whatever its adapter: answer the
// server-side events "hello" and "ping", and serve the cluster commands of the tests
// (broadcasts, fetchSockets, remote joins, server-side emits, server counts).

"use strict";

const { send } = require("./wire");

function describe(socket) {
  return {
    id: socket.id,
    rooms: [...socket.rooms].sort(),
    data: socket.data,
    handshake: socket.handshake,
  };
}

// server-side emits from other servers of the cluster, answered with "<server name>:<event>"
function answerServerEvents(nsp, name, serverName) {
  for (const event of ["hello", "ping"]) {
    nsp.on(event, (...args) => {
      const callback = typeof args[args.length - 1] === "function" ? args.pop() : null;
      send({ event: "serverSideEmit", nsp: name, name: event, args, withAck: !!callback });
      if (callback) {
        callback(`${serverName}:${event}`);
      }
    });
  }
}

function clusterCommands(io) {
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

  return {
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
  };
}

module.exports = { answerServerEvents, clusterCommands, describe };

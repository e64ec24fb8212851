// Produces the reference cluster messages that the Python protocol tests compare against.
//
// Every message below is emitted by Node's own ClusterAdapterWithHeartbeat from
// socket.io-adapter: the adapter runs against a minimal stand-in for a socket.io Namespace,
// and doPublish/doPublishResponse record what they receive, encoded on the spot with
// @msgpack/msgpack as the Pub/Sub and Service Bus adapters encode it. Responses (8, 10, 11,
// 12) are produced by feeding the adapter requests through onMessage, exactly as a broker
// would. Random ids (node uid, requestId) are pinned so that the output is deterministic.
//
// Usage: node generate.mjs [output-file]   (stdout when no file is given)

import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { encode } from "@msgpack/msgpack";

const require = createRequire(import.meta.url);
const crypto = require("crypto");
const { ClusterAdapterWithHeartbeat } = require("socket.io-adapter");

const NODE_UID = "a1b2c3d4e5f60718";
const PEER_UID = "0f1e2d3c4b5a6978";
const REQUEST_ID = "5eed5eed5eed5eed";
const SID_ALICE = "AbCdEfGhIjKlMnOpQrSt";
const SID_BOB = "uVwXyZ0123456789-_aB";

// cluster-adapter.js draws request ids from crypto.randomBytes(8) at call time: hand it the
// pinned ids queued here, and fall back to real randomness for anything else.
const pinnedRandom = [];
const realRandomBytes = crypto.randomBytes;
crypto.randomBytes = (size, ...rest) => {
  if (size === 8 && pinnedRandom.length > 0 && rest.length === 0) {
    return Buffer.from(pinnedRandom.shift(), "hex");
  }
  return realRandomBytes(size, ...rest);
};

// A JSON-able description of a JS value: binary becomes {"$bin": hex}, a Date becomes
// {"$date": epoch ms} and undefined becomes {"$undefined": true}, so that the reader can tell
// them from strings, numbers and null.
function describe(value) {
  if (value === undefined) return { $undefined: true };
  if (value instanceof Date) return { $date: value.getTime() };
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`cannot describe ${value}`);
    return value;
  }
  if (value instanceof Uint8Array) return { $bin: Buffer.from(value).toString("hex") };
  if (Array.isArray(value)) return value.map(describe);
  if (Object.getPrototypeOf(value) === Object.prototype) {
    const out = {};
    for (const [key, item] of Object.entries(value)) out[key] = describe(item);
    return out;
  }
  throw new Error(`cannot describe ${Object.prototype.toString.call(value)}`);
}

const hex = (bytes) => Buffer.from(bytes).toString("hex");

class RecordingAdapter extends ClusterAdapterWithHeartbeat {
  constructor(nsp) {
    super(nsp, { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 });
    this.uid = NODE_UID;
    this.recorded = [];
  }

  // The encoding must happen here, synchronously: after publishing, the adapter goes on to
  // mutate the same packet for local delivery (it sets packet.nsp and packet.id).
  record(requesterUid, message) {
    this.recorded.push({
      requesterUid,
      message: describe(message),
      msgpack: hex(encode(message)),
      data_msgpack: message.data === undefined ? null : hex(encode(message.data)),
    });
  }

  doPublish(message) {
    this.record(null, message);
    return Promise.resolve("");
  }

  doPublishResponse(requesterUid, response) {
    this.record(requesterUid, response);
    return Promise.resolve();
  }
}

// Just enough of socket.io's Socket for the in-memory adapter's apply()/broadcastWithAck().
class FakeSocket {
  constructor(nsp, id, handshake, data) {
    this.nsp = nsp;
    this.id = id;
    this.handshake = handshake;
    this.data = data;
    this.acks = new Map();
    this.client = { writeToEngine() {} };
  }

  get rooms() {
    return this.nsp.adapter.socketRooms(this.id) || new Set();
  }
}

// Just enough of socket.io's Namespace for the adapter constructor and the code paths used.
function makeNamespace(name) {
  const nsp = {
    name,
    server: { opts: {}, encoder: { encode: (packet) => [JSON.stringify(packet)] } },
    sockets: new Map(),
    _ids: 0,
    serverSideListener: () => {},
    _onServerSideEmit(args) {
      nsp.serverSideListener(...args);
    },
  };
  nsp.adapter = new RecordingAdapter(nsp);
  return nsp;
}

function addSocket(nsp, id, rooms, handshake, data) {
  const socket = new FakeSocket(nsp, id, handshake, data);
  nsp.sockets.set(id, socket);
  nsp.adapter.addAll(id, new Set([id, ...rooms]));
  return socket;
}

function handshakeOf(address, query, auth) {
  // socket.io's handshake keys, in socket.io's order; sessionStore is what express-session
  // adds and the adapter strips before answering a fetch.
  return {
    headers: {
      host: "127.0.0.1:3000",
      "user-agent": "node-XMLHttpRequest",
      cookie: "io=abc; lang=en",
      "set-cookie": ["a=1", "b=2"],
    },
    time: "Sun Nov 22 2026 10:00:00 GMT+0000 (Coordinated Universal Time)",
    address,
    xdomain: false,
    secure: false,
    issued: 1795341600000,
    url: "/socket.io/?EIO=4&transport=polling&t=PabcD12",
    query: { EIO: "4", transport: "polling", t: "PabcD12", ...query },
    auth,
    sessionStore: { not: "sent" },
  };
}

const opts = (rooms = [], except = [], flags = {}) => ({
  rooms: new Set(rooms),
  except: new Set(except),
  flags,
});

// Lets promise callbacks (the adapter answers fetches from a .then) run.
const settle = () => new Promise((resolve) => setImmediate(resolve));

// Tells the adapter that PEER_UID is alive, so that requests expect an answer from it.
function knowPeer(nsp) {
  nsp.adapter.onMessage({ type: 2, uid: PEER_UID, nsp: nsp.name });
}

// Each scenario names the messages it makes the adapter publish, in order.
const scenarios = [
  {
    names: ["initial_heartbeat"],
    how: "adapter.init()",
    run: (nsp) => nsp.adapter.init(),
  },
  {
    names: ["heartbeat"],
    how: "reply to an INITIAL_HEARTBEAT from a peer",
    run: (nsp) => nsp.adapter.onMessage({ type: 1, uid: PEER_UID, nsp: "/" }),
  },
  {
    names: ["broadcast"],
    how: 'io.emit("hello", "world", 42)',
    run: (nsp) => nsp.adapter.broadcast({ type: 2, data: ["hello", "world", 42] }, opts()),
  },
  {
    names: ["broadcast_rooms_except_flags"],
    how: 'io.to(["room1", "room2"]).except("room3").volatile.compress(false).emit("news", {...})',
    run: (nsp) =>
      nsp.adapter.broadcast(
        { type: 2, data: ["news", { title: "héllo ☃", count: -7, ratio: 0.25, tags: [] }] },
        opts(["room1", "room2"], ["room3"], { volatile: true, compress: false }),
      ),
  },
  {
    names: ["broadcast_from_socket"],
    how: 'socket.broadcast.emit("typing") (the sender\'s own room is excepted)',
    run: (nsp) => nsp.adapter.broadcast({ type: 2, data: ["typing"] }, opts([], [SID_ALICE])),
  },
  {
    names: ["broadcast_binary"],
    how: 'io.emit("upload", Buffer, {file: Buffer, name}, 3.5, null, true, "x".repeat(40), 2**40)',
    run: (nsp) =>
      nsp.adapter.broadcast(
        {
          type: 2,
          data: [
            "upload",
            Buffer.from([0, 1, 2, 254, 255]),
            { file: Buffer.from("PNG\r\n", "latin1"), name: "a.png" },
            3.5,
            null,
            true,
            "x".repeat(40),
            2 ** 40,
          ],
        },
        opts(),
      ),
  },
  {
    names: ["broadcast_date"],
    how: 'io.emit("at", new Date(...), new Date(...)) (msgpack timestamps, 64 and 96 bits)',
    run: (nsp) =>
      nsp.adapter.broadcast(
        {
          type: 2,
          data: [
            "at",
            new Date(Date.UTC(2026, 10, 22, 10, 0, 0, 123)),
            new Date(Date.UTC(1969, 6, 20, 20, 17, 40, 500)),
          ],
        },
        opts(),
      ),
  },
  {
    names: ["broadcast_remote_socket"],
    how: 'remoteSocket.emit("direct", 1) (from fetchSockets())',
    run: (nsp) =>
      nsp.adapter.broadcast(
        { type: 2, data: ["direct", 1] },
        opts([SID_BOB], [], { expectSingleResponse: true }),
      ),
  },
  {
    names: ["broadcast_namespace"],
    how: 'io.of("/admin").to("ops").emit("alert", "disk")',
    nsp: "/admin",
    run: (nsp) => nsp.adapter.broadcast({ type: 2, data: ["alert", "disk"] }, opts(["ops"])),
  },
  {
    names: ["broadcast_with_ack"],
    how: 'io.to("room1").timeout(5000).emit("question", 1, callback)',
    pin: [REQUEST_ID],
    run: (nsp) =>
      nsp.adapter.broadcastWithAck(
        { type: 2, data: ["question", 1] },
        opts(["room1"], [], { timeout: 5000 }),
        () => {},
        () => {},
      ),
  },
  {
    names: ["broadcast_with_ack_remote_socket"],
    how: 'remoteSocket.timeout(1000).emit("ping", Buffer, callback)',
    pin: [REQUEST_ID],
    run: (nsp) =>
      nsp.adapter.broadcastWithAck(
        { type: 2, data: ["ping", Buffer.from([7])] },
        opts([SID_BOB], [], { expectSingleResponse: true, timeout: 1000 }),
        () => {},
        () => {},
      ),
  },
  {
    names: ["sockets_join"],
    how: 'io.in("room1").except("room2").socketsJoin(["room3", "room4"])',
    run: (nsp) => nsp.adapter.addSockets(opts(["room1"], ["room2"]), ["room3", "room4"]),
  },
  {
    names: ["sockets_join_all"],
    how: 'io.socketsJoin("lobby")',
    run: (nsp) => nsp.adapter.addSockets(opts(), ["lobby"]),
  },
  {
    names: ["sockets_leave"],
    how: 'io.in("room1").socketsLeave("room1")',
    run: (nsp) => nsp.adapter.delSockets(opts(["room1"]), ["room1"]),
  },
  {
    names: ["disconnect_sockets"],
    how: 'io.in("room1").disconnectSockets()',
    run: (nsp) => nsp.adapter.disconnectSockets(opts(["room1"]), false),
  },
  {
    names: ["disconnect_sockets_close"],
    how: "io.except(\"vip\").disconnectSockets(true)",
    run: (nsp) => nsp.adapter.disconnectSockets(opts([], ["vip"]), true),
  },
  {
    names: ["fetch_sockets"],
    how: "io.fetchSockets() with one peer",
    pin: [REQUEST_ID],
    run: async (nsp) => {
      knowPeer(nsp);
      nsp.adapter.recorded.length = 0;
      const done = nsp.adapter.fetchSockets(opts());
      // answer it once it is out (the adapter first awaits its local sockets), so that its
      // timer is cleared
      await settle();
      nsp.adapter.onResponse({
        type: 8,
        uid: PEER_UID,
        nsp: "/",
        data: { requestId: REQUEST_ID, sockets: [] },
      });
      await done;
    },
  },
  {
    names: ["fetch_sockets_timeout_rooms"],
    how: 'io.in("room1").except("room2").timeout(3000).fetchSockets() with one peer',
    pin: [REQUEST_ID],
    run: async (nsp) => {
      knowPeer(nsp);
      nsp.adapter.recorded.length = 0;
      const done = nsp.adapter.fetchSockets(opts(["room1"], ["room2"], { timeout: 3000 }));
      await settle();
      nsp.adapter.onResponse({
        type: 8,
        uid: PEER_UID,
        nsp: "/",
        data: { requestId: REQUEST_ID, sockets: [] },
      });
      await done;
    },
  },
  {
    names: ["fetch_sockets_response"],
    how: 'a peer\'s io.in("room1").fetchSockets(): two of three local sockets match',
    run: async (nsp) => {
      addSocket(nsp, SID_ALICE, ["room1"], handshakeOf("::1", {}, {}), {});
      addSocket(
        nsp,
        SID_BOB,
        ["room1", "room2"],
        handshakeOf("127.0.0.1", { room: "x" }, { token: "t0k3n" }),
        { user: "bob", level: 3, avatar: Buffer.from([137, 80, 78, 71]) },
      );
      addSocket(nsp, "zzzzzzzzzzzzzzzzzzzz", ["room3"], handshakeOf("::1", {}, {}), {});
      nsp.adapter.onMessage({
        type: 7,
        uid: PEER_UID,
        nsp: "/",
        data: { opts: { rooms: ["room1"], except: [], flags: {} }, requestId: REQUEST_ID },
      });
      await settle();
    },
  },
  {
    names: ["fetch_sockets_response_empty"],
    how: "a peer's io.fetchSockets() with no local socket",
    run: async (nsp) => {
      nsp.adapter.onMessage({
        type: 7,
        uid: PEER_UID,
        nsp: "/",
        data: { opts: { rooms: [], except: [], flags: { timeout: 3000 } }, requestId: REQUEST_ID },
      });
      await settle();
    },
  },
  {
    names: ["server_side_emit"],
    how: 'io.serverSideEmit("hello", "world", {n: 1})',
    run: (nsp) => nsp.adapter.serverSideEmit(["hello", "world", { n: 1 }]),
  },
  {
    names: ["server_side_emit_with_ack"],
    how: 'io.serverSideEmitWithAck("ping", 2) with one peer',
    pin: [REQUEST_ID],
    run: async (nsp) => {
      knowPeer(nsp);
      nsp.adapter.recorded.length = 0;
      const done = new Promise((resolve) => nsp.adapter.serverSideEmit(["ping", 2, resolve]));
      await settle();
      nsp.adapter.onResponse({
        type: 10,
        uid: PEER_UID,
        nsp: "/",
        data: { requestId: REQUEST_ID, packet: "pong" },
      });
      await done;
    },
  },
  {
    names: ["server_side_emit_response"],
    how: 'a peer\'s serverSideEmitWithAck("ping", 2); the listener calls back ({ok: true}, "ignored")',
    run: (nsp) => {
      nsp.serverSideListener = (event, arg, callback) => callback({ ok: true }, "ignored");
      nsp.adapter.onMessage({
        type: 9,
        uid: PEER_UID,
        nsp: "/",
        data: { requestId: REQUEST_ID, packet: ["ping", 2] },
      });
    },
  },
  {
    names: ["server_side_emit_response_no_value"],
    how: 'a peer\'s serverSideEmitWithAck("ping"); the listener calls back with nothing',
    run: (nsp) => {
      nsp.serverSideListener = (event, callback) => callback();
      nsp.adapter.onMessage({
        type: 9,
        uid: PEER_UID,
        nsp: "/",
        data: { requestId: REQUEST_ID, packet: ["ping"] },
      });
    },
  },
  {
    names: ["broadcast_client_count", "broadcast_ack"],
    how: 'a peer\'s io.timeout(5000).emit("question", 1, cb); one local client answers ("yes", 2)',
    run: (nsp) => {
      const socket = addSocket(nsp, SID_ALICE, [], handshakeOf("::1", {}, {}), {});
      nsp.adapter.onMessage({
        type: 3,
        uid: PEER_UID,
        nsp: "/",
        data: {
          packet: { type: 2, data: ["question", 1] },
          requestId: REQUEST_ID,
          opts: { rooms: [], except: [], flags: { timeout: 5000 } },
        },
      });
      // socket.io calls the ack with every argument of the client's ACK packet
      socket.acks.get(0)("yes", 2);
    },
  },
  {
    names: ["broadcast_client_count_zero"],
    how: 'a peer\'s io.to("room9").timeout(5000).emit("question", cb) with no local recipient',
    run: (nsp) =>
      nsp.adapter.onMessage({
        type: 3,
        uid: PEER_UID,
        nsp: "/",
        data: {
          packet: { type: 2, data: ["question"] },
          requestId: REQUEST_ID,
          opts: { rooms: ["room9"], except: [], flags: { timeout: 5000 } },
        },
      }),
  },
  {
    names: ["broadcast_ack_binary"],
    how: "one local client answers a peer's ack broadcast with a Buffer",
    run: (nsp) => {
      const socket = addSocket(nsp, SID_ALICE, [], handshakeOf("::1", {}, {}), {});
      nsp.adapter.onMessage({
        type: 3,
        uid: PEER_UID,
        nsp: "/",
        data: {
          packet: { type: 2, data: ["photo"] },
          requestId: REQUEST_ID,
          opts: { rooms: [], except: [], flags: { timeout: 5000 } },
        },
      });
      nsp.adapter.recorded.length = 0; // keep only the ack
      socket.acks.get(0)(Buffer.from([1, 2, 3]));
    },
  },
  {
    names: ["broadcast_ack_no_value"],
    how: "one local client answers a peer's ack broadcast with no argument",
    run: (nsp) => {
      const socket = addSocket(nsp, SID_ALICE, [], handshakeOf("::1", {}, {}), {});
      nsp.adapter.onMessage({
        type: 3,
        uid: PEER_UID,
        nsp: "/",
        data: {
          packet: { type: 2, data: ["question"] },
          requestId: REQUEST_ID,
          opts: { rooms: [], except: [], flags: { timeout: 5000 } },
        },
      });
      nsp.adapter.recorded.length = 0; // keep only the ack
      socket.acks.get(0)();
    },
  },
  {
    names: ["adapter_close"],
    how: "adapter.close()",
    run: (nsp) => nsp.adapter.close(),
  },
];

async function generate() {
  const cases = [];
  for (const scenario of scenarios) {
    const nsp = makeNamespace(scenario.nsp ?? "/");
    pinnedRandom.length = 0;
    pinnedRandom.push(...(scenario.pin ?? []));
    await scenario.run(nsp);
    await settle();
    if (pinnedRandom.length !== 0) {
      throw new Error(`${scenario.names[0]}: pinned random values left unused`);
    }
    const recorded = nsp.adapter.recorded;
    if (recorded.length !== scenario.names.length) {
      throw new Error(
        `${scenario.names[0]}: expected ${scenario.names.length} messages, got ${recorded.length}`,
      );
    }
    scenario.names.forEach((name, index) => {
      cases.push({ name, how: scenario.how, ...recorded[index] });
    });
    // stop the adapter's heartbeat and liveness timers without recording its ADAPTER_CLOSE
    nsp.adapter.recorded = [];
    nsp.adapter.close();
  }
  const versions = {
    "socket.io-adapter": require("socket.io-adapter/package.json").version,
    "@msgpack/msgpack": require("@msgpack/msgpack/package.json").version,
  };
  return `${JSON.stringify({ generated_by: "tests/golden/generate.mjs", versions, cases }, null, 2)}\n`;
}

const text = await generate();
const [outputFile] = process.argv.slice(2);
if (outputFile) {
  writeFileSync(outputFile, text);
  process.exit(0);
}
// Pending adapter timers (ack bookkeeping) would keep Node alive for seconds: exit as soon as
// the output is flushed.
process.stdout.write(text, () => process.exit(0));

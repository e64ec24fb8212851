// What the Node scripts of the interop tests share: JSON lines on stdin/stdout.
//
//   in:  {"id": 1, "cmd": "name", ...arguments}
//   out: {"id": 1, "result": ...} or {"id": 1, "error": "..."}, and {"event": ...} lines
// Binary values travel as {"$bin": "<base64>"} in both directions.

"use strict";

const readline = require("readline");

function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array || value instanceof ArrayBuffer) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (Array.isArray(value)) {
    return value.map(toWire);
  }
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = toWire(item);
    }
    return out;
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) {
    return value.map(fromWire);
  }
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string" && Object.keys(value).length === 1) {
      return Buffer.from(value.$bin, "base64");
    }
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = fromWire(item);
    }
    return out;
  }
  return value;
}

function send(message) {
  process.stdout.write(JSON.stringify(toWire(message)) + "\n");
}

// Runs commands[cmd](args) for each request line and answers it; exits when stdin closes.
function serveCommands(commands) {
  readline.createInterface({ input: process.stdin }).on("line", async (line) => {
    let request;
    try {
      request = JSON.parse(line);
    } catch (e) {
      return send({ event: "badRequest", line });
    }
    const { id, cmd, ...args } = request;
    try {
      const command = commands[cmd];
      if (!command) throw new Error(`unknown command ${cmd}`);
      send({ id, result: await command(fromWire(args)) });
    } catch (e) {
      send({ id, error: String(e && e.message ? e.message : e) });
    }
  });
  process.stdin.on("end", () => process.exit(0));
}

module.exports = { toWire, fromWire, send, serveCommands };

// The broker alone, no Socket.IO: the same payloads through Redis PUBLISH -> SUBSCRIBE or
// XADD -> XREAD, so the adapters' overhead can be read as a ratio to this floor.
//   node raw_broker.mjs --mode pubsub|streams --role pub|sub --key NAME [--redis-url URL]
import { createClient } from "redis";
import { Sender, Tally, emit, onCommands, option } from "./control.mjs";

const mode = option("mode", "pubsub");
const role = option("role", "sub");
const key = option("key", "bench-raw");
const redisUrl = option("redis-url", "redis://127.0.0.1:6379");
const padding = Number(option("padding", "100"));

const client = createClient({ url: redisUrl });
client.on("error", (error) => emit("log", { error: String(error) }));
await client.connect();

if (role === "pub") {
  const send =
    mode === "pubsub"
      ? (payload) => client.publish(key, JSON.stringify(payload))
      : (payload) =>
          client.xAdd(
            key,
            "*",
            { data: JSON.stringify(payload) },
            { TRIM: { strategy: "MAXLEN", strategyModifier: "~", threshold: 10000 } },
          );
  const sender = new Sender(send, padding);
  onCommands(async (command) => {
    if (command.cmd === "send") await sender.run(command);
    else if (command.cmd === "stop") sender.stopped = true;
    else if (command.cmd === "exit") await client.quit().catch(() => {});
  });
  emit("ready", { pid: process.pid });
} else {
  const tally = new Tally(1);
  let running = true;
  onCommands(async (command) => {
    if (tally.handle(command)) return;
    if (command.cmd === "exit") running = false;
  });
  if (mode === "pubsub") {
    const subscriber = client.duplicate();
    await subscriber.connect();
    await subscriber.subscribe(key, (message) => tally.record(0, JSON.parse(message)));
    emit("ready", { pid: process.pid });
  } else {
    const last = await client.xRevRange(key, "+", "-", { COUNT: 1 });
    let offset = last.length ? last[0].id : "0-0";
    emit("ready", { pid: process.pid });
    while (running) {
      const reply = await client.xRead({ key, id: offset }, { BLOCK: 1000, COUNT: 100 });
      for (const stream of reply || []) {
        for (const entry of stream.messages) {
          offset = entry.id;
          tally.record(0, JSON.parse(entry.message.data));
        }
      }
    }
  }
}

// Line-oriented JSON control shared by the benchmark's Node processes: commands arrive on
// stdin, one JSON object per line; events leave on stdout the same way.
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";

/** Epoch milliseconds with sub-millisecond resolution (same clock as Python's time.time()). */
export function nowMs() {
  return performance.timeOrigin + performance.now();
}

export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

export function onCommands(handler) {
  const lines = createInterface({ input: process.stdin });
  lines.on("line", async (line) => {
    if (!line.trim()) return;
    let command;
    try {
      command = JSON.parse(line);
    } catch {
      emit("error", { error: `bad command: ${line}` });
      return;
    }
    if (command.cmd === "exit") {
      await handler(command);
      process.exit(0);
    }
    try {
      await handler(command);
    } catch (error) {
      emit("error", { error: String(error && error.stack ? error.stack : error) });
    }
  });
  // the orchestrator going away must not leave this process behind
  lines.on("close", () => process.exit(0));
}

export function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

/**
 * Per-phase receive accounting for a group of receivers (clients of one process, or one
 * raw subscriber): sequence numbers per receiver give exact loss and duplicate counts, the
 * send timestamp in each payload gives the latency.
 */
export class Tally {
  constructor(receivers) {
    this.receivers = receivers;
    this.start("none", 0);
  }

  start(phase, expected) {
    this.phase = phase;
    this.expected = expected;
    this.seen = Array.from({ length: this.receivers }, () => new Set());
    this.received = 0;
    this.complete = 0;
    this.reported = expected === 0;
    this.latencies = [];
    this.firstBySeq = new Map(); // seq -> the lowest latency among this group's clients
    this.first = null;
    this.last = null;
  }

  record(receiver, payload) {
    const now = nowMs();
    if (!payload || payload.phase !== this.phase) return;
    this.received += 1;
    const latency = now - payload.t;
    this.latencies.push(latency);
    const best = this.firstBySeq.get(payload.seq);
    if (best === undefined || latency < best) this.firstBySeq.set(payload.seq, latency);
    if (this.first === null) this.first = now;
    this.last = now;
    const seen = this.seen[receiver];
    const before = seen.size;
    seen.add(payload.seq);
    if (seen.size !== before && seen.size === this.expected) {
      this.complete += 1;
      if (this.complete === this.receivers && !this.reported) {
        this.reported = true;
        emit("complete", { phase: this.phase });
      }
    }
  }

  report() {
    let distinct = 0;
    for (const seen of this.seen) distinct += Math.min(seen.size, this.expected);
    return {
      phase: this.phase,
      receivers: this.receivers,
      received: this.received,
      distinct,
      duplicates: this.received - distinct,
      lost: this.receivers * this.expected - distinct,
      first_ms: this.first,
      last_ms: this.last,
      latencies_ms: this.latencies.map((value) => Math.round(value * 1000) / 1000),
      first_latencies_ms: Object.fromEntries(
        [...this.firstBySeq].map(([seq, value]) => [seq, Math.round(value * 1000) / 1000]),
      ),
    };
  }

  handle(command) {
    if (command.cmd === "phase") {
      this.start(command.phase, command.expected);
      emit("phase", { phase: command.phase });
      return true;
    }
    if (command.cmd === "report") {
      emit("report", this.report());
      return true;
    }
    return false;
  }
}

/**
 * Sends `count` payloads through `send(payload)`: paced at `rate` per second, or as fast as
 * the sender goes when rate is 0 (yielding to the event loop every 100 sends). Stoppable.
 */
export class Sender {
  constructor(send, padding) {
    this.send = send;
    this.pad = "x".repeat(padding);
    this.stopped = false;
  }

  /** Send `count` events, at `rate` per second (0: at once); a paced run starts at
   * `start_ms` (epoch ms, agreed with other senders) when it is given. */
  async run({ phase, count, rate, start_ms: startMs }) {
    this.stopped = false;
    const start = typeof startMs === "number" ? Math.max(startMs, nowMs()) : nowMs();
    if (start > nowMs()) await new Promise((resolve) => setTimeout(resolve, start - nowMs()));
    let sent = 0;
    const pending = [];
    for (let seq = 0; seq < count && !this.stopped; seq++) {
      if (rate > 0) {
        const delay = start + (seq * 1000) / rate - nowMs();
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        if (this.stopped) break;
      } else if (seq % 100 === 0 && seq > 0) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      const result = this.send({ phase, seq, t: nowMs(), pad: this.pad });
      if (result && typeof result.then === "function") pending.push(result);
      sent += 1;
    }
    await Promise.all(pending);
    emit("sent", { phase, count: sent, start_ms: start, end_ms: nowMs() });
  }
}

// Sends messages with application properties to a topic and receives from a subscription
// whose rule filters on them, with the official @azure/service-bus SDK.
// Usage: node send_receive_filtered.js <connection string> <topic> <subscription>
// Prints one JSON line: the bodies and application properties received.
"use strict";
const { ServiceBusClient } = require("@azure/service-bus");

async function main() {
  const [connectionString, topic, subscription] = process.argv.slice(2);
  const client = new ServiceBusClient(connectionString, {
    retryOptions: { maxRetries: 1, timeoutInMs: 10000 },
  });
  try {
    const sender = client.createSender(topic);
    await sender.sendMessages([
      { body: Buffer.from("for-js"), applicationProperties: { uid: "other", nsp: "/" } },
      { body: Buffer.from("own-echo"), applicationProperties: { uid: "js", nsp: "/" } },
    ]);
    await sender.close();
    const receiver = client.createReceiver(topic, subscription);
    const received = [];
    const deadline = Date.now() + 10000;
    while (received.length < 1 && Date.now() < deadline) {
      const batch = await receiver.receiveMessages(10, { maxWaitTimeInMs: 1000 });
      for (const message of batch) {
        received.push({
          body: Buffer.from(message.body).toString("utf8"),
          applicationProperties: message.applicationProperties,
        });
        await receiver.completeMessage(message);
      }
    }
    // One more short receive shows the filtered-out message is not waiting either.
    const rest = await receiver.receiveMessages(10, { maxWaitTimeInMs: 500 });
    await receiver.close();
    console.log(JSON.stringify({ received, extra: rest.length }));
  } finally {
    await client.close();
  }
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});

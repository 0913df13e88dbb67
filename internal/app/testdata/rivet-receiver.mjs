// Zoom's own SDK receiver as a reference for BenchmarkPipeline: the
// HttpReceiver of @zoom/rivet (a UsersS2SAuthClient's default receiver),
// which verifies every webhook and calls the handler registered for its
// event; the handlers only count. It runs from the directory the
// benchmark installed the package into (the import resolves there).
//
// HttpReceiver listens on a port with no host option, so on every
// interface; the benchmark stays on loopback, so every listen of this
// process binds 127.0.0.1, and the address is checked before the
// benchmark is told it ("listening 127.0.0.1:PORT"). When standard input
// closes, it prints "handled N" and exits.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};

const { UsersS2SAuthClient } = await import("@zoom/rivet/users");

const client = new UsersS2SAuthClient({
  clientId: "cid",
  clientSecret: "csecret",
  accountId: process.env.RIVET_ACCOUNT_ID,
  webhooksSecretToken: process.env.RIVET_WEBHOOK_SECRET,
  port: 0,
});
let handled = 0;
for (const name of process.env.RIVET_EVENTS.split(",")) {
  client.webEventConsumer.event(name, () => {
    handled++;
  });
}
const server = await client.start();
const { address, port } = server.address();
if (address !== "127.0.0.1") {
  console.error(`rivet-receiver: bound ${address}, not loopback`);
  process.exit(1);
}
console.log(`listening 127.0.0.1:${port}`);
process.stdin.on("end", () => {
  console.log(`handled ${handled}`);
  process.exit(0);
});
process.stdin.resume();

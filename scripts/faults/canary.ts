/** A TCP listener on a port the proxy must never reach; it counts every connection it gets. */
import { connect, createServer, type Server } from "node:net";

export interface Canary {
  host: string;
  port: number;
  connections(): number;
  close(): Promise<void>;
}

/** Starts the canary and proves it counts: one direct connection must register before the count is reset. */
export async function startCanary(host = "127.0.0.1"): Promise<Canary> {
  let count = 0;
  const server: Server = createServer((sock) => {
    count++;
    sock.destroy();
  });
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(0, host, () => res());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  await new Promise<void>((res, rej) => {
    const probe = connect(port, host);
    probe.once("error", rej);
    probe.once("close", () => res());
  });
  const deadline = Date.now() + 2000;
  while (count === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  if (count !== 1)
    throw new Error(`canary on ${host}:${port} did not count a direct connection (count ${count})`);
  count = 0;
  return {
    host,
    port,
    connections: () => count,
    close: () => new Promise((res) => server.close(() => res())),
  };
}

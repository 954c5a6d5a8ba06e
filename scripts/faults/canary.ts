/** A TCP listener on a port the proxy must never reach; it counts every connection it gets. */
import { createServer, type Server } from "node:net";

export interface Canary {
  host: string;
  port: number;
  connections(): number;
  close(): Promise<void>;
}

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
  return {
    host,
    port: typeof addr === "object" && addr ? addr.port : 0,
    connections: () => count,
    close: () => new Promise((res) => server.close(() => res())),
  };
}

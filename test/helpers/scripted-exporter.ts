/**
 * An exporter on a raw TCP socket whose answers a test scripts byte for byte: what node:http would never send
 * (ambiguous framing, 1xx, bodies cut short, closes at chosen points) is how the proxy's relay is tested.
 */
import { createServer, type Server, type Socket } from "node:net";

/**
 * What the exporter does with the n-th request head (1-based) it parsed on any connection: a string is
 * written as latin1 (one ending in "<close>" is written without that marker and the connection ends after
 * it); undefined writes nothing, for a test that answers on `socket` itself, later or never.
 */
export type Answer = (n: number, socket: Socket) => string | undefined;

/** A 200 with the request's number as a 2-byte body: what the relay tests expect unless they say otherwise. */
export const numbered = (n: number): string =>
  `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(n).padStart(2, "0")}`;

export interface ScriptedExporter {
  port: number;
  /** Every request head the exporter parsed (its first line), in order; a test may empty it. */
  seen: string[];
  /** Open connections. */
  sockets: Set<Socket>;
  /** The script; replace it per test. */
  answer: Answer;
  close(): Promise<void>;
}

export async function startScriptedExporter(answer: Answer = numbered): Promise<ScriptedExporter> {
  const sockets = new Set<Socket>();
  const seen: string[] = [];
  const exporter: ScriptedExporter = {
    port: 0,
    seen,
    sockets,
    answer,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {}); // EPIPE when the proxy closes a channel mid-body, as the tests make it
    let buf = "";
    socket.on("data", (d) => {
      buf += d.toString("latin1");
      for (let end = buf.indexOf("\r\n\r\n"); end >= 0; end = buf.indexOf("\r\n\r\n")) {
        seen.push(buf.slice(0, buf.indexOf("\r\n")));
        buf = buf.slice(end + 4);
        const text = exporter.answer(seen.length, socket);
        if (text === undefined) continue;
        if (text.endsWith("<close>")) socket.end(text.slice(0, -"<close>".length), "latin1");
        else socket.write(text, "latin1");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  exporter.port = (server.address() as { port: number }).port;
  return exporter;
}

/** Writes a chunked 200 whose body never ends, as fast as `socket` takes it. */
export function writeEndlessBody(socket: Socket): void {
  const chunk = Buffer.alloc(64 * 1024, "x");
  socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  const more = () => {
    while (!socket.destroyed && socket.write(`10000\r\n${chunk}\r\n`));
  };
  socket.on("drain", more);
  more();
}

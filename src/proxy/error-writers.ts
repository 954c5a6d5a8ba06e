/**
 * How every failure reaches the client: the error's status, a one-line plain-text body (its message) and
 * `X-Sshscrape-Error: CODE`, on a ServerResponse or, for CONNECT and parser errors, written to the socket.
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { MethodNotAllowedError } from "./errors.js";
import type { ResponseSink } from "./exchange.js";
import type { ProxyError } from "./proxy-error.js";

/** Headers that go with an error beyond the body's own: challenges, Allow, Connection: close. */
function extraHeaders(err: ProxyError): Record<string, string> {
  const h: Record<string, string> = {};
  if (err.status === 407) h["proxy-authenticate"] = 'Basic realm="sshscrape"';
  if (err.status === 401) h["www-authenticate"] = 'Basic realm="sshscrape"';
  if (err instanceof MethodNotAllowedError) h.allow = err.allowed.join(", ");
  if (err.closeConnection) h.connection = "close";
  return h;
}

/** Answers with the error's status and a one-line plain-text body; after the headers, fails the response. */
export function sendError(res: ResponseSink, err: ProxyError, req?: { method?: string | undefined }): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = `${err.message}\n`;
  res.writeHead(err.status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "x-sshscrape-error": err.code,
    ...extraHeaders(err),
  });
  res.end(req?.method === "HEAD" ? undefined : body);
}

/** For CONNECT and parser errors, where there is no ServerResponse: the same answer, written by hand. */
export function writeRawError(socket: Duplex, err: ProxyError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${err.message}\n`;
  const extra = Object.entries({ ...extraHeaders(err), connection: "close" })
    .map(([k, v]) => `${k.replace(/(^|-)[a-z]/g, (c) => c.toUpperCase())}: ${v}\r\n`)
    .join("");
  socket.end(
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? "Error"}\r\n` +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Sshscrape-Error: ${err.code}\r\n${extra}\r\n${body}`,
  );
}

/** A small plain-text or JSON answer of the proxy's own (admin endpoints). */
export function sendText(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(req.method === "HEAD" ? undefined : body);
}

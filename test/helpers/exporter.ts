/**
 * Static HTTP(S) "exporters" on loopback for tests: serve a fixed body at /metrics, count requests.
 * TLS material comes from a throwaway CA made with the openssl CLI.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttps } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Exporter {
  host: string;
  port: number;
  url: string;
  body: Buffer;
  requests: IncomingMessage[];
  close(): Promise<void>;
}

export interface ExporterOptions {
  host?: string;
  port?: number;
  body?: string | Buffer;
  tls?: TlsMaterial;
  /** Custom handler; default serves `body` as text/plain at any path. */
  handler?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** A realistic exporter body of roughly `bytes` bytes (Prometheus text format). */
export function metricsBody(bytes = 100_000): Buffer {
  const lines = ["# HELP test_metric A test metric.", "# TYPE test_metric gauge"];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `test_metric{index="${i}",kind="sample"} ${i * 1.5}`;
    lines.push(line);
    size += line.length + 1;
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

export async function startExporter(options: ExporterOptions = {}): Promise<Exporter> {
  const host = options.host ?? "127.0.0.1";
  const body = Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body ?? metricsBody(2000));
  const requests: IncomingMessage[] = [];
  const handler =
    options.handler ??
    ((_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": body.length });
      res.end(body);
    });
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    requests.push(req);
    handler(req, res);
  };
  const server: Server = options.tls
    ? createHttps({ key: options.tls.serverKey, cert: options.tls.serverCert }, listener)
    : createHttp(listener);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return {
    host,
    port,
    url: `${options.tls ? "https" : "http"}://${hostPart}:${port}/metrics`,
    body,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

export interface TlsMaterial {
  dir: string;
  caCert: string;
  caCertPath: string;
  serverKey: string;
  serverCert: string;
}

/** A CA and a server certificate for `names` (DNS names and IPs), made with openssl. */
export function makeTls(names: string[] = ["localhost", "127.0.0.1"]): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-tls-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=sshscrape test CA",
  );
  run(
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    `/CN=${names[0]}`,
  );
  const san = names.map((n) => (/^[\d.]+$/.test(n) || n.includes(":") ? `IP:${n}` : `DNS:${n}`)).join(",");
  execFileSync("sh", ["-c", `printf 'subjectAltName=${san}\\n' > ext.cnf`], { cwd: dir });
  run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
  return {
    dir,
    caCert: readFileSync(join(dir, "ca.pem"), "utf8"),
    caCertPath: join(dir, "ca.pem"),
    serverKey: readFileSync(join(dir, "server.key"), "utf8"),
    serverCert: readFileSync(join(dir, "server.pem"), "utf8"),
  };
}

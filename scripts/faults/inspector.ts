/**
 * Just enough of the Chrome DevTools protocol to force a full garbage collection in the proxy (started with
 * `--inspect=127.0.0.1:0`), so memory readings compare live data, not where V8's collector happened to be in
 * its cycle. A minimal WebSocket client (RFC 6455): text frames, client-side masking, no fragmentation.
 */
import { randomBytes } from "node:crypto";
import { get } from "node:http";
import type { Socket } from "node:net";

export interface Inspector {
  /** HeapProfiler.collectGarbage: V8's low-memory notification, which also returns freed pages. */
  collectGarbage(): Promise<void>;
  close(): void;
}

/** `ws://127.0.0.1:PORT/UUID` as Node prints it on stderr ("Debugger listening on …"). */
export function inspectorUrl(log: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(log)?.[1];
}

export async function connectInspector(wsUrl: string): Promise<Inspector> {
  const url = new URL(wsUrl);
  const socket = await new Promise<Socket>((resolve, reject) => {
    const req = get({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
      },
    });
    req.on("upgrade", (_res, sock: Socket) => resolve(sock));
    req.on("response", (res) =>
      reject(new Error(`inspector answered ${res.statusCode} instead of upgrading`)),
    );
    req.on("error", reject);
  });
  let buf = Buffer.alloc(0);
  let nextId = 1;
  const waiting = new Map<number, () => void>();
  socket.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      let len = (buf[1] as number) & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const payload = buf.subarray(off, off + len).toString();
      buf = buf.subarray(off + len);
      try {
        const msg = JSON.parse(payload) as { id?: number };
        if (msg.id !== undefined) waiting.get(msg.id)?.();
      } catch {
        // events and non-JSON frames are of no interest here
      }
    }
  });
  const send = (method: string) =>
    new Promise<void>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method}`)), 30_000);
      waiting.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      const payload = Buffer.from(JSON.stringify({ id, method }));
      const mask = randomBytes(4);
      const header =
        payload.length < 126
          ? Buffer.from([0x81, 0x80 | payload.length])
          : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
      const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
      socket.write(Buffer.concat([header, mask, masked]));
    });
  return {
    collectGarbage: () => send("HeapProfiler.collectGarbage"),
    close: () => socket.destroy(),
  };
}

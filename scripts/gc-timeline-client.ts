/**
 * Child of scripts/gc-probe.ts (`--timeline`): one keep-alive connection, `count` requests one after another
 * (c=1), each request's start (wall-clock ms, performance.timeOrigin + now) and latency written as JSON to
 * `out`, so the slow ones can be matched against the proxy's GC pauses (scripts/gc-marks.mjs).
 *
 *   tsx scripts/gc-timeline-client.ts PORT URL HOST BODY_BYTES COUNT OUT
 */
import { writeFileSync } from "node:fs";
import { connect } from "node:net";

const [port, url, host, bodyBytes, count, out] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const request = Buffer.from(
  `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: gc-probe\r\nAccept: */*\r\n\r\n`,
  "latin1",
);
const socket = connect({ host: "127.0.0.1", port: Number(port), noDelay: true });
const rows: [number, number][] = [];
let remaining = -1;
let head: Buffer[] = [];
let t0 = 0;
let n = 0;
const send = () => {
  head = [];
  remaining = -1;
  t0 = performance.now();
  socket.write(request);
};
socket.on("data", (chunk: Buffer) => {
  let body = chunk;
  if (remaining < 0) {
    head.push(chunk);
    const all = Buffer.concat(head);
    const end = all.indexOf("\r\n\r\n");
    if (end < 0) return;
    remaining = Number(bodyBytes);
    body = all.subarray(end + 4);
  }
  remaining -= body.length;
  if (remaining > 0) return;
  const now = performance.now();
  rows.push([performance.timeOrigin + t0, now - t0]);
  if (++n < Number(count)) send();
  else {
    writeFileSync(out, JSON.stringify(rows));
    socket.destroy();
  }
});
socket.on("connect", send);

/** Row 11: the proxy must never become a way into ports nobody configured. */

import { startCanary } from "../canary.js";
import { raw, scrape } from "../client.js";
import type { Row } from "../harness.js";
import { countLog, inLab, Lab } from "../lab.js";

interface Probe {
  name: string;
  bytes: string;
  /** Statuses that are correct: 403 for a well-formed request to an unlisted place, 400 for a malformed form. */
  accept: number[];
}

export const openRelay: Row = {
  id: 11,
  fault:
    "open-relay probes: GET and CONNECT to unlisted hosts/ports, 127.0.0.1:22, the sshd port, IPv6, mixed case, trailing dots, percent-encoding, userinfo, 127.1, 0x7f.0.0.1, integer and octal IPv4, port overflow",
  expected:
    "each probe 403, or 400 where the form is malformed (userinfo, percent-encoding, non-dotted-quad IPv4, bad port, non-http scheme; accepted statuses per probe in the details table); canary port and sshd see no connection from the probes",
  budgetMs: 30_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      const canary = await startCanary();
      lab.onClose(() => canary.close());
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({ targets: [Lab.target(sshd, [exp.port])] });
      const allowed = `127.0.0.1:${exp.port}`;
      const warm = await scrape(proxy.port, allowed);
      c.check(warm.status === 200, `allowed ${allowed}: ${warm.status ?? warm.error}`);
      const connsBefore = countLog(sshd, /Connection from/);
      const P = canary.port;
      const S = sshd.port;
      const get = (url: string, host = url.replace(/^[a-z]+:\/\//i, "").split("/")[0] ?? "") =>
        `GET ${url} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
      const connect = (auth: string) => `CONNECT ${auth} HTTP/1.1\r\nHost: ${auth}\r\n\r\n`;
      const F = [403];
      const M = [400, 403];
      const probes: Probe[] = [
        { name: "GET unlisted port", bytes: get(`http://127.0.0.1:${P}/`), accept: F },
        { name: "CONNECT unlisted port", bytes: connect(`127.0.0.1:${P}`), accept: F },
        { name: "GET 127.0.0.1:22", bytes: get("http://127.0.0.1:22/"), accept: F },
        { name: "CONNECT 127.0.0.1:22", bytes: connect("127.0.0.1:22"), accept: F },
        { name: "GET sshd port", bytes: get(`http://127.0.0.1:${S}/`), accept: F },
        { name: "CONNECT sshd port", bytes: connect(`127.0.0.1:${S}`), accept: F },
        { name: "GET allowed port, other host name", bytes: get(`http://localhost:${exp.port}/`), accept: F },
        { name: "GET allowed port, 127.0.0.2", bytes: get(`http://127.0.0.2:${exp.port}/`), accept: F },
        { name: "GET no port (80)", bytes: get("http://127.0.0.1/"), accept: F },
        { name: "GET [::1] unlisted", bytes: get(`http://[::1]:${P}/`), accept: F },
        { name: "CONNECT [::1] unlisted", bytes: connect(`[::1]:${P}`), accept: F },
        { name: "GET [::ffff:127.0.0.1]", bytes: get(`http://[::ffff:127.0.0.1]:${P}/`), accept: F },
        { name: "GET [::ffff:7f00:1]", bytes: get(`http://[::ffff:7f00:1]:${P}/`), accept: F },
        {
          name: "GET [0:0:0:0:0:ffff:7f00:1]",
          bytes: get(`http://[0:0:0:0:0:ffff:7f00:1]:${S}/`),
          accept: F,
        },
        { name: "GET LOCALHOST mixed case", bytes: get(`http://LocalHost:${P}/`), accept: F },
        { name: "GET HTTP:// upper-case scheme", bytes: get(`HTTP://127.0.0.1:${P}/`), accept: M },
        {
          name: "CONNECT lower-case method",
          bytes: `connect 127.0.0.1:${P} HTTP/1.1\r\nHost: x\r\n\r\n`,
          accept: M,
        },
        { name: "GET trailing dot", bytes: get(`http://127.0.0.1.:${P}/`), accept: M },
        { name: "GET localhost. trailing dot", bytes: get(`http://localhost.:${P}/`), accept: F },
        { name: "CONNECT trailing dot", bytes: connect(`127.0.0.1.:${P}`), accept: M },
        { name: "GET percent-encoded host", bytes: get(`http://%31%32%37.0.0.1:${P}/`), accept: M },
        { name: "CONNECT percent-encoded host", bytes: connect(`%31%32%37.0.0.1:${P}`), accept: M },
        {
          name: "GET percent-encoded port",
          bytes: get(`http://127.0.0.1:%3${String(P)[0]}${String(P).slice(1)}/`),
          accept: M,
        },
        { name: "GET userinfo allowed@unlisted", bytes: get(`http://${allowed}@127.0.0.1:${P}/`), accept: M },
        { name: "GET userinfo user@unlisted", bytes: get(`http://allowed@127.0.0.1:${S}/`), accept: M },
        { name: "CONNECT userinfo", bytes: connect(`${allowed}@127.0.0.1:${P}`), accept: M },
        { name: "GET backslash trick", bytes: get(`http://127.0.0.1:${P}\\@${allowed}/`), accept: M },
        { name: "GET 127.1", bytes: get(`http://127.1:${P}/`), accept: M },
        { name: "GET 127.1 allowed port", bytes: get(`http://127.1:${exp.port}/`), accept: M },
        { name: "GET 0x7f.0.0.1", bytes: get(`http://0x7f.0.0.1:${P}/`), accept: M },
        { name: "GET 0x7f.0.0.1 allowed port", bytes: get(`http://0x7f.0.0.1:${exp.port}/`), accept: M },
        {
          name: "GET percent-encoded allowed host",
          bytes: get(`http://%31%32%37.0.0.1:${exp.port}/`),
          accept: M,
        },
        { name: "GET 2130706433 allowed port", bytes: get(`http://2130706433:${exp.port}/`), accept: M },
        { name: "GET 0177.0.0.1 octal", bytes: get(`http://0177.0.0.1:${P}/`), accept: M },
        { name: "GET 2130706433 integer", bytes: get(`http://2130706433:${P}/`), accept: M },
        { name: "GET 0x7f000001", bytes: get(`http://0x7f000001:${P}/`), accept: M },
        { name: "GET 0.0.0.0", bytes: get(`http://0.0.0.0:${P}/`), accept: F },
        { name: "GET port overflow to unlisted", bytes: get(`http://127.0.0.1:${P + 65536}/`), accept: M },
        { name: "GET port with leading zeros", bytes: get(`http://127.0.0.1:000${P}/`), accept: M },
        { name: "CONNECT port overflow", bytes: connect(`127.0.0.1:${P + 65536}`), accept: M },
        { name: "GET https:// scheme", bytes: get(`https://127.0.0.1:${P}/`), accept: M },
        { name: "GET ftp:// scheme", bytes: get(`ftp://127.0.0.1:${P}/`), accept: M },
        {
          name: "GET origin-form, Host unlisted",
          bytes: `GET / HTTP/1.1\r\nHost: 127.0.0.1:${P}\r\n\r\n`,
          accept: M,
        },
        {
          name: "GET origin-form /x, Host allowed",
          bytes: `GET /x HTTP/1.1\r\nHost: ${allowed}\r\n\r\n`,
          accept: M,
        },
        {
          name: "GET unlisted URL, allowed Host header",
          bytes: `GET http://127.0.0.1:${P}/ HTTP/1.1\r\nHost: ${allowed}\r\n\r\n`,
          accept: F,
        },
        { name: "GET tab in host", bytes: get(`http://127.0.0.1\t:${P}/`), accept: M },
        {
          name: "GET whitespace-padded host",
          bytes: `GET http:// 127.0.0.1:${P}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
          accept: M,
        },
        { name: "GET IPv6 zone id", bytes: get(`http://[fe80::1%25lo]:${P}/`), accept: M },
        { name: "GET IPv6 unbracketed", bytes: get(`http://::1:${P}/`), accept: M },
      ];
      const wrong: string[] = [];
      c.details.push("| probe | request line | accepted | observed | result |", "|---|---|---|---|---|");
      const counts = { 403: 0, 400: 0 };
      for (const p of probes) {
        const r = await raw(proxy.port, p.bytes, { timeoutMs: 5000 });
        if (r.status === 403 || r.status === 400) counts[r.status]++;
        const seen = r.status ?? (r.timedOut ? "hang" : "closed");
        const ok = r.status !== undefined && p.accept.includes(r.status);
        if (!ok) wrong.push(`${p.name} → ${seen}`);
        const shown = JSON.stringify(p.bytes.split("\r\n")[0]).replace(/\|/g, "\\|");
        c.details.push(
          `| ${p.name} | \`${shown}\` | ${p.accept.join(" or ")} | ${seen} | ${ok ? "PASS" : "**FAIL**"} |`,
        );
      }
      c.check(
        wrong.length === 0,
        `${probes.length} probes: 403×${counts[403]}, 400×${counts[400]}${wrong.length ? `; wrong: ${wrong.join(", ")}` : ""}`,
      );
      const newConns = countLog(sshd, /Connection from/) - connsBefore;
      c.check(
        canary.connections() === 0 && newConns === 0,
        `canary connections ${canary.connections()}, new sshd connections ${newConns}`,
      );
    }),
};

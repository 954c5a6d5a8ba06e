/** Rows 15–16 (issue 6, "Also"): the private key's file mode, and what the logs must never contain. */
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { closedPort } from "../../../test/helpers/ports.js";
import { raw, scrape } from "../client.js";
import type { Row } from "../harness.js";
import { inLab, Lab } from "../lab.js";

export const keyMode: Row = {
  id: 15,
  fault: "private key file readable by group/others (mode 0640 and 0604), vs 0600",
  expected:
    "a warn-level line at start naming the key file for 0640 and 0604; none for 0600; the proxy still starts",
  budgetMs: 30_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      for (const mode of [0o640, 0o604, 0o600]) {
        const keyPath = join(lab.dir, `key-${mode.toString(8)}`);
        copyFileSync(sshd.clientKeyPath, keyPath);
        chmodSync(keyPath, mode);
        const proxy = await lab.proxy({ keyPath, targets: [Lab.target(sshd, [exp.port])] });
        const r = await scrape(proxy.port, `127.0.0.1:${exp.port}`);
        // Stopped first, so a missing warning means none was written, not one still in the pipe.
        await proxy.stop();
        const warned = proxy
          .logLines()
          .filter(
            (l) =>
              (l.level ?? 0) >= 40 &&
              JSON.stringify(l).includes(keyPath) &&
              /readable|permission|mode/i.test(JSON.stringify(l)),
          );
        const want = mode !== 0o600;
        c.check(
          warned.length > 0 === want && r.status === 200,
          `0${mode.toString(8)}: ${warned.length} warning(s)${warned[0] ? ` "${warned[0].msg}"` : ""}, scrape ${r.status ?? r.error}`,
        );
      }
    }),
};

export const noSecretsInLogs: Row = {
  id: 16,
  fault:
    "secrets and request headers in logs (proxy auth on; Proxy-Authorization, Authorization, Cookie and a canary header sent on 200/403/407/502 requests)",
  expected:
    "at the default log level no line contains the proxy password, either Basic credential, the bearer token, the cookie, the canary header's name or value, or the private key",
  budgetMs: 30_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      const deadPort = await closedPort();
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const tag = randomBytes(6).toString("hex");
      const secrets = {
        password: `pw-${tag}`,
        wrongPassword: `wrong-${tag}`,
        bearer: `bearer-${tag}`,
        cookie: `cookie-${tag}`,
        canaryValue: `canary-${tag}`,
      };
      const passwordFile = join(lab.dir, "proxy-password");
      writeFileSync(passwordFile, `${secrets.password}\n`, { mode: 0o600 });
      const proxy = await lab.proxy({
        proxy: { auth: { username: "prom", passwordFile } },
        targets: [
          {
            host: "127.0.0.1",
            ssh: { port: sshd.port },
            // The dead one as scheme: https, so the CONNECT below is admitted and fails at SSH (502), as a
            // tunnel to a down https exporter would; CONNECT to a scheme: http exporter is refused with 405.
            exporters: [
              { name: "e0", port: exp.port },
              { name: "e1", port: deadPort, scheme: "https" },
            ],
          },
        ],
      });
      const basic = (pw: string) => `Basic ${Buffer.from(`prom:${pw}`).toString("base64")}`;
      const headers = (pw: string) => ({
        "Proxy-Authorization": basic(pw),
        Authorization: `Bearer ${secrets.bearer}`,
        Cookie: `session=${secrets.cookie}`,
        "X-Canary-Header": secrets.canaryValue,
      });
      const ok = await scrape(proxy.port, `127.0.0.1:${exp.port}`, { headers: headers(secrets.password) });
      const forbidden = await scrape(proxy.port, `127.0.0.1:${deadPort + 1}`, {
        headers: headers(secrets.password),
      });
      const wrong = await scrape(proxy.port, `127.0.0.1:${exp.port}`, {
        headers: headers(secrets.wrongPassword),
      });
      const none = await scrape(proxy.port, `127.0.0.1:${exp.port}`, {
        headers: { Authorization: `Bearer ${secrets.bearer}`, "X-Canary-Header": secrets.canaryValue },
      });
      const down = await scrape(proxy.port, `127.0.0.1:${deadPort}`, { headers: headers(secrets.password) });
      const conn = await raw(
        proxy.port,
        `CONNECT 127.0.0.1:${deadPort} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${basic(secrets.password)}\r\nX-Canary-Header: ${secrets.canaryValue}\r\n\r\n`,
      );
      const statuses = [ok, forbidden, wrong, none, down].map((r) => r.status ?? r.error);
      c.check(
        statuses.join(",") === "200,403,407,407,502" && conn.status === 502,
        `statuses ${statuses.join(", ")}, CONNECT ${conn.status ?? "-"}`,
      );
      c.check(
        (exp.requests[0]?.headers["x-canary-header"] ?? "") === secrets.canaryValue &&
          exp.requests[0]?.headers["proxy-authorization"] === undefined,
        `exporter got the canary header and no Proxy-Authorization`,
      );
      // Stopped first, so the log holds every line, shutdown included, before it is searched.
      await proxy.stop();
      const log = proxy.logText();
      const keyBody = readFileSync(sshd.clientKeyPath, "utf8").split("\n")[1] ?? "unreadable";
      const needles: Record<string, string> = {
        password: secrets.password,
        "wrong password": secrets.wrongPassword,
        "Basic credential": basic(secrets.password).slice(6),
        "wrong Basic credential": basic(secrets.wrongPassword).slice(6),
        "bearer token": secrets.bearer,
        cookie: secrets.cookie,
        "canary value": secrets.canaryValue,
        "canary header name": "x-canary-header",
        "private key": keyBody,
      };
      const found = Object.entries(needles)
        .filter(([, v]) => log.toLowerCase().includes(v.toLowerCase()))
        .map(([k]) => k);
      const lines = log.split("\n").filter((l) => l.trim()).length;
      c.check(found.length === 0, `${lines} log lines; found: ${found.length ? found.join(", ") : "none"}`);
    }),
};

/**
 * `sshscrape init` on a real terminal: util-linux `script` gives the CLI a pseudo-terminal, and the test
 * answers each question when it appears, as a person would.
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { ROOT } from "../generate/golden-cases.js";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaox8osPCTxv6HRrHRIGHDaD4dMA2LmU4tG8UKzxIwE mon";

function converse(
  file: string,
  answers: Array<[RegExp, string]>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "script",
      ["-q", "-c", `node ${join(ROOT, "bin/run.js")} init ${file}`, "/dev/null"],
      {
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let out = "";
    let next = 0;
    let answeredAt = 0;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no question matching ${answers[next]?.[0]} within 20 s; terminal showed:\n${out}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      // readline on a terminal positions the cursor with ANSI sequences around each prompt.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping escape sequences is the point
      out += String(d).replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
      // Only a prompt printed after the last answer counts: readline drops lines typed before it asks.
      const fresh = out.slice(answeredAt);
      const pending = answers[next];
      if (pending?.[0].test(fresh.slice(fresh.lastIndexOf("\n", fresh.length - 2) + 1))) {
        next++;
        answeredAt = out.length;
        child.stdin.write(`${pending[1]}\n`);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe("sshscrape init on a terminal", () => {
  it("asks for hosts, exporters, the key and the public key, showing defaults, and writes the list", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "sshscrape-tty-")), "hosts.yaml");
    const { code, out } = await converse(file, [
      [/Hosts to scrape .*\[server1\.example\.org\]: $/, "db1.example.org, web1.example.org"],
      [/Exporters on each host .*\[node:9100\]: $/, "node:9100,app:8080"],
      [/sops, agenix or path \[sops\]: $/, "vault"],
      [/sops, agenix or path \[sops\]: $/, "agenix"],
      [/agenix file \[\.\/secrets\/sshscrape\.age\]: $/, ""],
      [/Public key line .*: $/, KEY],
    ]);
    expect(code, out).toBe(0);
    const { config } = loadConfig(file);
    expect(config.targets.map((t) => t.host)).toEqual(["db1.example.org", "web1.example.org"]);
    expect(config.targets[0]?.exporters.map((e) => `${e.name}:${e.port}`)).toEqual(["node:9100", "app:8080"]);
    expect(config.ssh.key).toEqual({ agenix: { file: "./secrets/sshscrape.age" } });
    expect(config.ssh.publicKey).toBe(KEY);
  });
});

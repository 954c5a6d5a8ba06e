/**
 * A scripted exporter (helpers/scripted-exporter.ts) behind a real sshd, and the proxy twice in front of it:
 * once with the raw front (src/proxy/front.ts) and once with node:http alone (SSHSCRAPE_FRONT=0). For tests
 * that hold both HTTP paths to the same behaviour (docs/proxy.md, "Failed responses").
 */
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { proxyWith, type RuntimeOptions, runtimeFor } from "./proxy.js";
import { type ScriptedExporter, startScriptedExporter } from "./scripted-exporter.js";
import { type Sshd, startSshd } from "./sshd.js";

/** The exporter's answer to the n-th request head, given that request's path (see `Answer`). */
export type PathAnswer = (path: string, socket: Socket, n: number) => string | undefined;

export interface BothFrontsOptions extends Omit<RuntimeOptions, "exact"> {
  frontLogger?: Logger;
  plainLogger?: Logger;
}

export interface BothFronts {
  sshd: Sshd;
  exporter: ScriptedExporter;
  /** The proxy with its raw front. */
  front: RunningProxy;
  /** The same proxy with node:http alone (SSHSCRAPE_FRONT=0). */
  plain: RunningProxy;
  /** Stops both proxies (100 ms grace), the exporter and sshd; safe after a failed start. */
  stop(): Promise<void>;
}

export async function startBothFronts(answer: PathAnswer, o: BothFrontsOptions = {}): Promise<BothFronts> {
  const lab: Partial<BothFronts> = {};
  const stop = async () => {
    await lab.front?.close(100);
    await lab.plain?.close(100);
    await lab.exporter?.close();
    await lab.sshd?.stop();
  };
  try {
    const exporter = await startScriptedExporter((n, socket) =>
      answer((exporter.seen[n - 1] ?? "").split(" ")[1] ?? "", socket, n),
    );
    lab.exporter = exporter;
    const sshd = await startSshd({ permitOpen: [exporter.port] });
    lab.sshd = sshd;
    const { frontLogger, plainLogger, ...runtimeOptions } = o;
    const runtime = () =>
      runtimeFor(sshd, { ...runtimeOptions, exact: [{ host: "127.0.0.1", port: exporter.port }] });
    lab.front = await proxyWith(true, () =>
      startProxy(runtime(), frontLogger ? { logger: frontLogger } : {}),
    );
    lab.plain = await proxyWith(false, () =>
      startProxy(runtime(), plainLogger ? { logger: plainLogger } : {}),
    );
    return { ...(lab as Omit<BothFronts, "stop">), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

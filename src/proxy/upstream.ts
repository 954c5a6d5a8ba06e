/**
 * Keep-alive HTTP connections to exporters, each one a direct-tcpip channel on a pooled SSH connection.
 * A channel whose response ended cleanly goes back to an idle list and carries the next request to the same
 * exporter, as a persistent `ssh -L` tunnel (and sshified's Go http.Transport) would: a fresh channel per
 * request costs a CHANNEL_OPEN round trip plus sshd's TCP connect to the exporter, which made sshscrape 3×
 * slower than a tunnel at one scrape at a time (docs/benchmarks.md).
 */
import { Agent, type AgentOptions, type ClientRequestArgs } from "node:http";
import type { Duplex } from "node:stream";
import type { ClientChannel } from "ssh2";

/** Request options that carry how to open a channel when the agent has no idle one. */
export interface ChannelRequestArgs extends ClientRequestArgs {
  openChannel: () => Promise<ClientChannel>;
}

type CreateConnection = (
  options: ClientRequestArgs,
  callback: (err: Error | null, socket?: Duplex) => void,
) => undefined;

/** An agent whose new "sockets" are channels, opened asynchronously (node:http allows a callback). */
function channelAgent(options: AgentOptions): Agent {
  const agent = new Agent(options);
  const create: CreateConnection = (opts, callback) => {
    (opts as ChannelRequestArgs).openChannel().then(
      (channel) => callback(null, asSocket(channel)),
      (err: Error) => callback(err),
    );
    return undefined;
  };
  (agent as unknown as { createConnection: CreateConnection }).createConnection = create;
  return agent;
}

/** Agents kept before empty ones are dropped; see UpstreamAgents.get. */
const AGENTS_BEFORE_SWEEP = 256;

/** An agent with no channel open, none being opened and no request waiting. */
function unused(agent: Agent): boolean {
  const a = agent as Agent & { totalSocketCount?: number };
  return (a.totalSocketCount ?? 0) === 0 && Object.keys(a.requests).length === 0;
}

/**
 * One agent per (SSH endpoint, exporter address): idle channels are only reused for the same exporter.
 * Clients choose the targets (in sshified mode any port of any known host), so agents that hold no channel
 * are dropped once there are many: the map stays proportional to the exporters actually in use, not to every
 * target ever asked for.
 */
export class UpstreamAgents {
  private readonly agents = new Map<string, Agent>();
  private sweepAt = AGENTS_BEFORE_SWEEP;

  constructor(private readonly idleMs: number) {}

  get(key: string): Agent {
    let agent = this.agents.get(key);
    if (!agent) {
      if (this.agents.size >= this.sweepAt) this.sweep();
      agent = channelAgent({
        keepAlive: true,
        // An idle channel holds sshd's connection to the exporter open; close it after proxy.idleTimeout
        // (sooner if the exporter's Keep-Alive header says so, which Node's Agent honours).
        timeout: this.idleMs,
        scheduling: "lifo",
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** Drops unused agents; the next sweep waits until the map has doubled, so sweeping stays amortised O(1). */
  private sweep(): void {
    for (const [key, agent] of this.agents) if (unused(agent)) this.agents.delete(key);
    this.sweepAt = Math.max(AGENTS_BEFORE_SWEEP, this.agents.size * 2);
  }

  get size(): number {
    return this.agents.size;
  }

  /** Closes every idle channel (shutdown). */
  destroy(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

/** Makes an ssh2 channel usable as the socket of an http.ClientRequest (as ssh2's own HTTPAgent does). */
function asSocket(channel: ClientChannel): Duplex {
  const ch = channel as unknown as Record<string, unknown> & ClientChannel;
  let timer: NodeJS.Timeout | undefined;
  const self = () => channel;
  ch.setKeepAlive = self;
  ch.setNoDelay = self;
  ch.ref = self;
  ch.unref = self;
  // The agent arms this when the channel goes idle and destroys the channel on 'timeout' if it is still idle.
  ch.setTimeout = (ms: number) => {
    clearTimeout(timer);
    timer = ms > 0 ? setTimeout(() => channel.emit("timeout"), ms).unref() : undefined;
    return channel;
  };
  channel.once("close", () => {
    clearTimeout(timer);
    // On a connection that died, ssh2 closes the channel without ending its writable side, and node:http's
    // agent keeps a closed-but-writable socket in its idle list (removeSocket): mark it unwritable first.
    (channel as { writable: boolean }).writable = false;
  });
  ch.destroySoon = channel.destroy.bind(channel);
  return channel;
}

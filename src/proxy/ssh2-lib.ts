/**
 * ssh2's Client and key parser, required from their own files instead of the package's index. The index also
 * loads ssh2's Server, key generator and HTTP(S) agents (node:https, node:tls): none of them is used by the
 * proxy, yet they stayed compiled and resident for its whole life (docs/benchmarks.md "Memory (issue 14,
 * round 5)"). These are the very objects the index exports (the same files, one module cache).
 */
import { createRequire } from "node:module";
import type * as Ssh2 from "ssh2";
import { loadWithKexCrypto } from "./ssh2-kex-crypto.js";

const require = createRequire(import.meta.url);

const loaded = loadWithKexCrypto(() => ({
  Client: require("ssh2/lib/client.js") as typeof Ssh2.Client,
  parseKey: require("ssh2/lib/protocol/keyParser.js").parseKey as typeof Ssh2.utils.parseKey,
  constants: require("ssh2/lib/protocol/constants.js") as {
    DEFAULT_SERVER_HOST_KEY: readonly Ssh2.ServerHostKeyAlgorithm[];
    SUPPORTED_SERVER_HOST_KEY: readonly Ssh2.ServerHostKeyAlgorithm[];
  },
}));

export const Client = loaded.value.Client;
export const parseKey = loaded.value.parseKey;
export const kexCryptoApplied = loaded.applied;
/** The host key algorithms ssh2 offers by default, in its order of preference, and all it supports. */
export const DEFAULT_SERVER_HOST_KEY = loaded.value.constants.DEFAULT_SERVER_HOST_KEY;
export const SUPPORTED_SERVER_HOST_KEY = loaded.value.constants.SUPPORTED_SERVER_HOST_KEY;

export type Client = Ssh2.Client;

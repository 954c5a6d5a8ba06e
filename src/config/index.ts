export * from "./duration.js";
export * from "./errors.js";
export * from "./host.js";
export * from "./key-path.js";
export * from "./load.js";
export * from "./path.js";
export * from "./schema.js";
export * from "./shard.js";

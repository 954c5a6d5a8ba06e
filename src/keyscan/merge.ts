import { fingerprint, formatHostKey, type HostKey, hostKeyFromLine } from "./host-key.js";

export interface KeyMismatch {
  recorded: string;
  recordedKey: HostKey;
  offered: HostKey;
}

export interface MergeOutcome {
  /** The slot's new `hostKeys` list (with `update`, changed keys replaced in place). */
  keys: string[];
  added: HostKey[];
  changed: KeyMismatch[];
  /** Recorded keys of a type the server did not offer (kept: the scan may simply not have asked for it). */
  notOffered: string[];
  modified: boolean;
}

/**
 * Recorded keys keep their place and their text (comments included); keys of a new type are appended in
 * scan order. A recorded key is "changed" when the server offers a different key of the same type and
 * none of the recorded keys of that type (two are allowed while rotating).
 */
export function mergeKeys(
  recorded: readonly string[],
  offered: readonly HostKey[],
  update: boolean,
): MergeOutcome {
  const entries = recorded.map((line) => ({ line, key: hostKeyFromLine(line) }));
  const keys = [...recorded];
  const added: HostKey[] = [];
  const changed: KeyMismatch[] = [];
  for (const key of offered) {
    if (entries.some((e) => e.key?.blob.equals(key.blob))) continue;
    const sameType = entries.findIndex((e) => e.key?.type === key.type);
    const recordedEntry = entries[sameType];
    if (recordedEntry?.key) {
      changed.push({ recorded: recordedEntry.line, recordedKey: recordedEntry.key, offered: key });
      if (update) keys[sameType] = formatHostKey(key);
    } else {
      added.push(key);
      keys.push(formatHostKey(key));
    }
  }
  const offeredTypes = new Set(offered.map((k) => k.type));
  const notOffered = entries.filter((e) => e.key && !offeredTypes.has(e.key.type)).map((e) => e.line);
  return {
    keys,
    added,
    changed,
    notOffered,
    modified: added.length > 0 || (update && changed.length > 0),
  };
}

export function describeKey(key: HostKey): { type: string; key: string; fingerprint: string } {
  return { type: key.type, key: formatHostKey(key), fingerprint: fingerprint(key) };
}

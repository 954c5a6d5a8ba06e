#!/usr/bin/env bash
# Why the generated unit sets MemoryDenyWriteExecute = false: runs node under the kernel's own
# memory-deny-write-execute (prctl PR_SET_MDWE, Linux >= 6.3; systemd >= 254 uses it for
# MemoryDenyWriteExecute=yes, older systemd an equivalent seccomp filter). Expected: plain node aborts in
# V8's first JIT compile; `node --jitless` runs.
set -uo pipefail
run() {
  python3 - "$@" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit(f"prctl(PR_SET_MDWE) failed (errno {ctypes.get_errno()}): kernel older than 6.3?")
os.execvp("node", ["node", *sys.argv[1:], "-e", "let s = 0; for (let i = 0; i < 1e7; i++) s += i; console.log(s)"])
PY
}
run >/dev/null 2>&1; plain=$?
run --jitless >/dev/null 2>&1; jitless=$?
echo "node under MDWE: exit $plain (expected non-zero: V8 JIT needs write+execute memory)"
echo "node --jitless under MDWE: exit $jitless (expected 0)"
[ "$plain" -ne 0 ] && [ "$jitless" -eq 0 ]

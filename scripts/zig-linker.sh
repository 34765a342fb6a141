# Sourced (not run) by the scripts that build the packages users install: links every Rust
# build of the calling shell with zig's linker against glibc 2.17 (manylinux2014), so the
# wheel and the Node binary load on Linux distributions back to RHEL/CentOS 7 whatever glibc
# the build machine has. Installs ziglang and cargo-zigbuild (whose `zig cc` front end adapts
# rustc's linker arguments for zig) into the venv; scripts/zig-cc is the linker itself.
# Every release build (examples, benches, napi, maturin) sees the same linker, so they share
# one compiled dependency tree.
ZIG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Sourced already by the calling shell (a script that calls another): nothing to do.
if [ "${CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER:-}" = "$ZIG_ROOT/scripts/zig-cc" ] &&
  [ -x "${EMBEDREC_ZIG_BIN:-}/cargo-zigbuild" ]; then
  return 0
fi
ZIG_VENV="${EMBEDREC_VENV:-.venv}"
case "$ZIG_VENV" in /*) ;; *) ZIG_VENV="$ZIG_ROOT/$ZIG_VENV" ;; esac
[ -x "$ZIG_VENV/bin/python" ] || python3 -m venv "$ZIG_VENV"
"$ZIG_VENV/bin/pip" install -q "ziglang>=0.13" "cargo-zigbuild>=0.19,<0.25"
export EMBEDREC_ZIG_BIN="$ZIG_VENV/bin"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER="$ZIG_ROOT/scripts/zig-cc"

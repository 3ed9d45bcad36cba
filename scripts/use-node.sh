# Sourced by init.sh, test.sh and bin/ndx: puts the Node.js NDX runs on (24 LTS or newer) first on PATH.
# When the machine's node is older (or missing), Node 24 comes from the npm registry's `node` package,
# installed once into .tools/node24 (git-ignored). Nothing is asked of the user.
# Why 24 and not 22: Node 22's V8 crashed (V8_Fatal in the deoptimiser) in the Policy Decision Point under
# load, with a Cedar WebAssembly call on the stack; Node 24 LTS runs the same load cleanly (see docs/architecture.md).
ndx_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ndx_required_major=24
ndx_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(ndx_node_major)" -lt "$ndx_required_major" ]; then
  local_node="$ndx_root/.tools/node$ndx_required_major/node_modules/.bin"
  if [ ! -x "$local_node/node" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "init: Node.js $ndx_required_major+ is needed and npm is not available to fetch it" >&2
      return 1 2>/dev/null || exit 1
    fi
    echo "init: machine Node is $(node --version 2>/dev/null || echo missing); installing Node $ndx_required_major into .tools/node$ndx_required_major" >&2
    mkdir -p "$ndx_root/.tools/node$ndx_required_major"
    [ -f "$ndx_root/.tools/node$ndx_required_major/package.json" ] || echo '{"private":true}' >"$ndx_root/.tools/node$ndx_required_major/package.json"
    (cd "$ndx_root/.tools/node$ndx_required_major" && npm install --no-audit --no-fund --loglevel=error "node@$ndx_required_major" >/dev/null) || {
      echo "init: could not install Node $ndx_required_major from the npm registry" >&2
      return 1 2>/dev/null || exit 1
    }
  fi
  export PATH="$local_node:$PATH"
fi
unset -f ndx_node_major

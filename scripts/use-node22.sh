# Sourced by init.sh and .ci/run: puts a Node.js >= 22 first on PATH.
# When the machine's node is older (or missing), Node 22 comes from the npm registry's `node`
# package, installed once into .tools/node22 (git-ignored). Nothing is asked of the user.
ndx_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ndx_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(ndx_node_major)" -lt 22 ]; then
  local_node="$ndx_root/.tools/node22/node_modules/.bin"
  if [ ! -x "$local_node/node" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "init: Node.js 22+ is needed and npm is not available to fetch it" >&2
      return 1 2>/dev/null || exit 1
    fi
    echo "init: machine Node is $(node --version 2>/dev/null || echo missing); installing Node 22 into .tools/node22" >&2
    mkdir -p "$ndx_root/.tools/node22"
    [ -f "$ndx_root/.tools/node22/package.json" ] || echo '{"private":true}' >"$ndx_root/.tools/node22/package.json"
    (cd "$ndx_root/.tools/node22" && npm install --no-audit --no-fund --loglevel=error node@22 >/dev/null) || {
      echo "init: could not install Node 22 from the npm registry" >&2
      return 1 2>/dev/null || exit 1
    }
  fi
  export PATH="$local_node:$PATH"
fi
unset -f ndx_node_major

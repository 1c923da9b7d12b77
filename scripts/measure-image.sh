#!/bin/sh
# Reproduces the Dockerfile's runtime stage on disk and measures what it ships, for machines
# without a container engine or base image (and as a cross-check where there is one).
#
#   scripts/measure-image.sh [work-dir]      (NODE=/path/to/node22 to choose the Node)
#
# 1. Copies what the runtime stage is made of (package.json, package-lock.json, tsconfig.json, gen/,
#    src/) and runs the same `npm ci --omit=dev`, then reports the sizes of node_modules and the
#    app files (du, apparent bytes and disk usage) and the biggest packages, and checks that no
#    second Node binary is in the tree.
# 2. Read-only check: starts the server from that tree as the image would (NODE_ENV=production,
#    plain `node --import tsx src/main.ts`, the embedded store in a data folder, or PostgreSQL when
#    DATABASE_URL names a scratch database: the server applies its migrations there), opens a session
#    and runs a turn with the CLI, stops it with SIGTERM, and lists every file written outside the
#    data folder and the temp folder. The image's read-only root is fine when that list is empty.
#
# What it cannot measure: the base image (node:22-bookworm-slim) itself, which is not on disk
# here; add its size as your engine reports it (`docker image ls node:22-bookworm-slim`).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/lash-image-XXXXXX")}
node=${NODE:-node}
app="$work/app"
rm -rf "$app" "$work/data" "$work/tmp" "$work/home"
mkdir -p "$app" "$work/data" "$work/tmp" "$work/home"

# --- 1. the runtime stage's files --------------------------------------------------------------
cp "$repo/package.json" "$repo/package-lock.json" "$repo/tsconfig.json" "$app/"
cp -R "$repo/gen" "$repo/src" "$app/"
(cd "$app" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)

size() { du -s --block-size=1 "$@" | awk '{ s += $1 } END { printf "%.1f MB", s / 1000000 }'; }
apparent() { du -s --apparent-size --block-size=1 "$@" | awk '{ s += $1 } END { printf "%.1f MB", s / 1000000 }'; }
echo "runtime stage reproduced in $app"
echo "  node_modules (npm ci --omit=dev): $(size "$app/node_modules") on disk, $(apparent "$app/node_modules") apparent"
echo "  app files (src gen tsconfig.json package.json): $(size "$app/src" "$app/gen" "$app/tsconfig.json" "$app/package.json") on disk"
echo "  what the runtime stage adds to the base image: $(size "$app/node_modules" "$app/src" "$app/gen" "$app/tsconfig.json" "$app/package.json") on disk"
# An image layer is a tar of its files: this is what `docker image ls` adds up (uncompressed).
layers=$(tar -C "$app" -cf - node_modules src gen tsconfig.json package.json | wc -c)
echo "  as image layers (tar, uncompressed): $(echo "$layers" | awk '{ printf "%.1f MB", $1 / 1000000 }'); $(find "$app/node_modules" -type f | wc -l) files in node_modules"
echo "  biggest packages:"
(cd "$app/node_modules" && for d in @*/* [!@]*; do [ -d "$d" ] && du -s --block-size=1 "$d"; done) |
  sort -rn | head -8 | awk '{ printf "    %6.1f MB  %s\n", $1 / 1000000, $2 }'
# A second Node would be an ELF executable named node (the `node` npm package ships one).
second=$(find "$app/node_modules" -type f -name node -size +10M 2>/dev/null | head -1)
if [ -n "$second" ]; then
  echo "  FAIL: a second Node binary ships: $second"
  exit 1
fi
echo "  no second Node binary in node_modules"

# --- 2. what the server writes -------------------------------------------------------------------
marker="$work/marker"
touch "$marker"
sleep 1
port=$("$node" -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
(
  cd "$app"
  exec env -i PATH="$PATH" HOME="$work/home" TMPDIR="$work/tmp" NODE_ENV=production \
    LASH_LISTEN="127.0.0.1:$port" LASH_DATA_DIR="$work/data" LASH_LOG_FORMAT=json LASH_SHUTDOWN_NOTICE_MS=0 DATABASE_URL="${DATABASE_URL:-}" \
    "$node" --import tsx src/main.ts
) >"$work/server.log" 2>&1 &
server=$!
i=0
until grep -q '"msg":"lash-grpc serving"' "$work/server.log"; do
  i=$((i + 1))
  if [ $i -gt 300 ] || ! kill -0 $server 2>/dev/null; then
    echo "  FAIL: the server did not start:"
    cat "$work/server.log"
    exit 1
  fi
  sleep 0.2
done
# The CLI runs from the repository, so its own files land there, not in the tree under test.
cli() { (cd "$repo" && "$node" --import tsx src/cli/main.ts --address "127.0.0.1:$port" "$@"); }
cli sessions open "measure-image-$$" >/dev/null
answer=$(cli turn "measure-image-$$" "hello from the runtime stage" 2>/dev/null)
kill -TERM $server
wait $server || true
grep -q '"msg":"stopped"' "$work/server.log" || {
  echo "  FAIL: the server did not stop cleanly"
  exit 1
}
echo "read-only root check: server started from the tree, one session, one turn (answer: $(echo "$answer" | head -c 60)), SIGTERM"
written=$(find "$app" "$work/home" -newer "$marker" -type f 2>/dev/null)
if [ -n "$written" ]; then
  echo "  FAIL: files written outside the data and temp folders:"
  echo "$written" | sed 's/^/    /'
  exit 1
fi
echo "  nothing written to the app folder or HOME"
echo "  data folder: $(size "$work/data") ($(find "$work/data" -type f | wc -l) files); temp folder: $(size "$work/tmp") (tsx's compile cache)"

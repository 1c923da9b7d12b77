#!/bin/sh
# Generates the Python stubs of the lash.v1 contract into clients/python/generated/ with the
# Debian-packaged protoc and grpc_python_plugin (apt-get install protobuf-compiler
# protobuf-compiler-grpc). The output is not committed: it must match the protobuf runtime of the
# machine that runs it, so it is produced where it is used (CI runs this before the Python tests).
# google/protobuf is not generated: the protobuf runtime ships it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$here/generated"
plugin=${GRPC_PYTHON_PLUGIN:-$(command -v grpc_python_plugin || true)}
if ! command -v protoc >/dev/null 2>&1 || [ -z "$plugin" ]; then
  echo "protoc and grpc_python_plugin are required: apt-get install -y protobuf-compiler protobuf-compiler-grpc" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
cd "$root/proto"
protoc -I . --python_out="$out" --grpc_python_out="$out" --plugin=protoc-gen-grpc_python="$plugin" \
  $(find lash google/rpc -name '*.proto' | sort)
# Package markers for lash/ (google/ stays a namespace package so it merges with the runtime's).
for d in "$out/lash" "$out/lash/v1"; do : > "$d/__init__.py"; done
echo "generated Python stubs in $out"

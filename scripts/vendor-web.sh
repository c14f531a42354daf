#!/usr/bin/env bash
# Refresh the browser pages' one third-party module (checked in, so nothing is fetched at run
# time): @msgpack/msgpack's ES-module build, pinned. Run by hand when bumping the version.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=3.1.3
work=$(mktemp -d)
(cd "$work" && npm install --silent --no-audit --no-fund "@msgpack/msgpack@$VERSION" >/dev/null)
src="$work/node_modules/@msgpack/msgpack"
dst=src/openmmo/web/static/vendor/msgpack
rm -rf "$dst" && mkdir -p "$dst/utils"
for f in "$src"/dist.esm/*.mjs "$src"/dist.esm/utils/*.mjs; do
  sed '/^\/\/# sourceMappingURL/d' "$f" > "$dst/${f#"$src"/dist.esm/}"
done
cp "$src/LICENSE" "$dst/LICENSE"
echo "$VERSION" > "$dst/VERSION"
rm -rf "$work"
echo "vendored @msgpack/msgpack $VERSION into $dst"

#!/usr/bin/env bash
# Assembles the sharp Lambda layer, one folder per architecture:
#   assets/sharp-layer/<arch>/nodejs/node_modules/{sharp,@img/sharp-linux-<arch>,@img/sharp-libvips-linux-<arch>,...}
# from the lockfile committed beside this script, with npm's cross-platform install (no Docker).
# The output holds no symlinks and no timestamps that matter, so the CDK asset hash is the same
# on every machine. A folder already built from the same lockfile is left as it is.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/assets/sharp-layer"

for arch in arm64 x64; do
  src="$here/$arch"
  dest="$out/$arch/nodejs"
  stamp="$out/.$arch.stamp"
  want=$(cat "$src/package.json" "$src/package-lock.json" "$0" | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dest/node_modules/@img/sharp-linux-$arch/package.json" ]; then
    echo "sharp layer ($arch): up to date"
    continue
  fi
  rm -rf "$out/$arch" "$stamp"
  mkdir -p "$dest"
  cp "$src/package.json" "$src/package-lock.json" "$dest/"
  (
    cd "$dest"
    npm ci --force --os=linux --libc=glibc --cpu="$arch" --omit=dev --no-bin-links \
      --ignore-scripts --no-audit --no-fund --loglevel=error
  )
  # What npm writes for itself, and what Lambda never loads: sharp's C++ sources and install
  # scripts, the build-time glib header, semver's command line and grammar, type definitions,
  # source maps and READMEs. Kept: what `require('sharp')` and `import('sharp')` load (dist/*.cjs
  # and dist/*.mjs, the package.json files, @img/sharp-libvips-*/versions.json, the .node module
  # and libvips), every LICENSE file, and the libvips package's README, which is its licensing
  # notice for the libraries in libvips-cpp.so.
  modules="$dest/node_modules"
  rm -rf "$dest/package-lock.json" "$modules/.package-lock.json" "$modules/sharp/src" "$modules/sharp/install" \
    "$modules/sharp/lib" "$modules/@img/sharp-libvips-linux-$arch/lib/glib-2.0" \
    "$modules/semver/bin" "$modules/semver/range.bnf"
  find "$modules" -type f \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '*.map' -o -name 'README.md' \) \
    ! -path "$modules/@img/sharp-libvips-linux-$arch/README.md" -delete
  for need in "sharp/package.json" "@img/sharp-linux-$arch/lib" "@img/sharp-libvips-linux-$arch/lib"; do
    if [ ! -e "$dest/node_modules/$need" ]; then
      echo "sharp layer ($arch): $need is missing after install" >&2
      exit 1
    fi
  done
  if find "$dest" -type l | grep -q .; then
    echo "sharp layer ($arch): symlinks found; the asset hash would differ between machines" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
  echo "sharp layer ($arch): $(du -sk "$out/$arch" | cut -f1) KiB in $out/$arch"
done

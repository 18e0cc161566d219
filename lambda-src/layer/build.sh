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
  # What npm writes for itself, and sources that Lambda never loads
  rm -rf "$dest/node_modules/.package-lock.json" "$dest/node_modules/sharp/src" "$dest/node_modules/sharp/install"
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

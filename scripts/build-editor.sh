#!/usr/bin/env bash
# Rebuild the dashboard's SQL editor bundle (CodeMirror 6, from npm) into one minified ES module that is
# committed, so running Sluice needs no Node: webapp/dashboard/static/vendor/codemirror.js, with the
# licenses of everything bundled in codemirror.LICENSE.txt next to it.
# Needs node and npm; versions are pinned by tools/editor/package-lock.json (npm ci).
set -euo pipefail
cd "$(dirname "$0")/../tools/editor"
npm ci --no-audit --no-fund
OUT=../../webapp/dashboard/static/vendor
mkdir -p "$OUT"
npx esbuild entry.js --bundle --minify --format=esm --target=es2020 --legal-comments=none \
  --outfile="$OUT/codemirror.js"
node licenses.mjs > "$OUT/codemirror.LICENSE.txt"
ls -l "$OUT"

#!/usr/bin/env bash
# Refreshes the console's vendored front-end files from the npm registry.
#
# The console needs no Node.js at run time and no build step: the files below are
# committed under src/api/console/static/vendor/, each beside its licence. This
# script is for whoever bumps a version: edit the pin, run it, review the diff,
# commit. It needs only curl and tar (npm's registry serves plain tarballs), and
# checks each tarball against the registry's published integrity (sha512).
#
#   scripts/vendor-frontend.sh            # fetch the pinned versions
#   HTMX_VERSION=2.0.12 UPLOT_VERSION=1.6.33 scripts/vendor-frontend.sh
set -euo pipefail

# htmx 2.x: the console relies on its 2.x semantics (204 = no swap, hx-* inheritance).
HTMX_VERSION="${HTMX_VERSION:-2.0.11}"
# uPlot draws the reports' charts: canvas, no dependencies, small enough that a
# page's scripts and styles stay well under 200 KB.
UPLOT_VERSION="${UPLOT_VERSION:-1.6.32}"
REGISTRY="${NPM_REGISTRY:-https://registry.npmjs.org}"

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/src/api/console/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# fetch NAME VERSION: unpacks the package's tarball into $work/NAME.
fetch() {
    local name="$1" version="$2" meta tarball integrity
    meta="$(curl -fsSL "$REGISTRY/$name/$version")"
    tarball="$(printf '%s' "$meta" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dist"]["tarball"])')"
    integrity="$(printf '%s' "$meta" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dist"]["integrity"])')"
    curl -fsSL "$tarball" -o "$work/$name.tgz"
    local actual="sha512-$(openssl dgst -sha512 -binary "$work/$name.tgz" | base64 -w0)"
    if [ "$actual" != "$integrity" ]; then
        echo "vendor-frontend: $name@$version: integrity mismatch ($actual != $integrity)" >&2
        exit 1
    fi
    mkdir -p "$work/$name"
    tar -xzf "$work/$name.tgz" -C "$work/$name"
}

fetch htmx.org "$HTMX_VERSION"
mkdir -p "$vendor/htmx"
cp "$work/htmx.org/package/dist/htmx.min.js" "$vendor/htmx/htmx.min.js"
cp "$work/htmx.org/package/LICENSE" "$vendor/htmx/LICENSE"
printf 'htmx.org %s (npm), dist/htmx.min.js; licence BSD-0-Clause (LICENSE)\n' \
    "$HTMX_VERSION" > "$vendor/htmx/VERSION"
echo "vendored htmx.org@$HTMX_VERSION into ${vendor#"$root/"}/htmx"

fetch uplot "$UPLOT_VERSION"
mkdir -p "$vendor/uplot"
cp "$work/uplot/package/dist/uPlot.iife.min.js" "$vendor/uplot/uPlot.iife.min.js"
cp "$work/uplot/package/dist/uPlot.min.css" "$vendor/uplot/uPlot.min.css"
cp "$work/uplot/package/LICENSE" "$vendor/uplot/LICENSE"
printf 'uplot %s (npm), dist/uPlot.iife.min.js and dist/uPlot.min.css; licence MIT (LICENSE)\n' \
    "$UPLOT_VERSION" > "$vendor/uplot/VERSION"
echo "vendored uplot@$UPLOT_VERSION into ${vendor#"$root/"}/uplot"

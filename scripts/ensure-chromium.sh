#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium: the browser tests and the demo drive it through
# playwright-core (never `npx playwright install`, which downloads a browser build of its own).
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then exit 0; fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "Chromium is missing: run 'apt-get update && apt-get install -y chromium' as root" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "Installing Debian's chromium (needed by the browser tests and the demo)..." >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version >&2

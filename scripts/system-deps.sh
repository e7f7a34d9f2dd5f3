#!/bin/sh
# The test suite drives two Debian packages for real: chromium (the Swagger UI browser test)
# and redis-server (the shared token store tests start their own on 127.0.0.1). Install them
# when they are missing, so `npm ci && npm test` works on a fresh clone of a Debian machine.
set -eu
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The tests need Debian's$missing: run 'apt-get install$missing' as root, then npm test again." >&2
  exit 1
fi
echo "Installing$missing with apt-get for the browser and Redis tests…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

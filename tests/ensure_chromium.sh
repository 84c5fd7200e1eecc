#!/bin/sh
# Browser tests drive Debian's chromium at /usr/bin/chromium. Install it when
# missing and we may (root or password-less sudo); otherwise say how.
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "chromium is missing: run 'sudo apt-get install chromium' (browser tests are skipped until then)" >&2; exit 0; fi
if command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
else
  echo "no apt-get: install chromium at /usr/bin/chromium for the browser tests" >&2
fi
exit 0

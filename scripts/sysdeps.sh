#!/usr/bin/env bash
# The Debian packages the test suite needs (sources of the generated corpus; the browser and ffmpeg of the web page's
# tests), installed when missing.
#
# Each package is checked by what the code uses from it. When any is missing: as root with apt-get, it runs
# `apt-get update` once and installs them; otherwise it prints one `error:` line naming them and exits with 2.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have fluidsynth || missing+=(fluidsynth)
[ -e /usr/share/sounds/sf3/FluidR3Mono_GM.sf3 ] || [ -e /usr/share/sounds/sf2/FluidR3Mono_GM.sf2 ] \
    || [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluidr3mono-gm-soundfont)
have espeak-ng || missing+=(espeak-ng)
[ -e /usr/share/sounds/freedesktop/stereo/bell.oga ] || missing+=(sound-theme-freedesktop)
# `audiox ui`: Gradio's video handling calls ffmpeg; its tests drive Debian's headless Chromium (never a downloaded one)
have ffmpeg || missing+=(ffmpeg)
[ -x /usr/bin/chromium ] || missing+=(chromium)

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    exit 0
fi
echo "error: missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
exit 2

#!/bin/bash
# A small box with style cards on: one photo, two styles at 192 px, its starry preview
# approved for a 384 px print; the watch daemon renders the cards after the photo.
# Writes docs/team-gallery.png and docs/team-styles.png; take them on a quiet box (the render
# times show on the pages). Needs `make` (the .venv) and Debian's chromium.
#   docs/make_team_screenshots.sh                      # into docs/, with .venv's python
#   OUT=/tmp/shots PY=/path/to/python docs/make_team_screenshots.sh   # elsewhere, another venv
# BOX: the throwaway box's folder (default /tmp/deepart-team-box); WAIT: seconds each stage
# may take before the script gives up (default 1800).
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/docs}; mkdir -p "$OUT"
PY=${PY:-$ROOT/.venv/bin/python}
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}   # this checkout's code, whatever the venv
WAIT=${WAIT:-1800}
R=${BOX:-/tmp/deepart-team-box}; rm -rf $R; mkdir -p $R/inbox/spring $R/outbox $R/styles; chmod 2775 $R/inbox
cp $ROOT/examples/styles/starry_night.jpg $ROOT/examples/styles/the_scream.jpg $R/styles/
cat > $R/manifest.yaml <<'M'
styles:
  starry: {image: starry_night.jpg}
  scream: {image: the_scream.jpg}
rules:
  - match: "**"
    outputs: [{style: starry}, {style: scream}]
M
cat > $R/config.yaml <<'C'
inbox: inbox
outbox: outbox
state_dir: state
styles_dir: styles
manifest: manifest.yaml
devices: [cpu]
defaults: {size: 192, steps: 60, print_size: 384}
watch: {settle_seconds: 1, poll_interval: 1}
C
cp $ROOT/examples/photos/tubingen.jpg $R/inbox/spring/tubingen.jpg
cd $R
uptime
$PY -m deepart_batch.cli watch --config config.yaml > watch.log 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
until_done() {   # until_done WHAT TEST...: wait up to WAIT seconds for TEST to hold
    local what=$1; shift; local end=$((SECONDS + WAIT))
    until "$@"; do
        if ! kill -0 $PID 2>/dev/null || [ $SECONDS -ge $end ]; then
            echo "gave up waiting for $what; the daemon's log:" >&2; tail -30 watch.log >&2
            exit 1
        fi
        sleep 2
    done
}
cards() { [ "$(ls outbox/_styles/*.jpg 2>/dev/null | wc -l)" -ge 4 ]; }   # 2 paintings x 2 card photos
until_done "the two previews" test -f outbox/spring/tubingen.scream.jpg -a -f outbox/spring/tubingen.starry.jpg
mkdir -p outbox/_approve && cp outbox/spring/tubingen.starry.jpg outbox/_approve/
until_done "the print" test -f outbox/spring/tubingen.starry.print.jpg
until_done "the style cards" cards
sleep 3          # the gallery writer's last pass
kill -TERM $PID; wait $PID || true
trap - EXIT
uptime
$PY -m deepart_batch.cli styles --config config.yaml
ls -R outbox | head -40
/usr/bin/chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1000 --screenshot=$OUT/team-gallery.png file://$R/outbox/spring/index.html 2>/dev/null
/usr/bin/chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1000 --screenshot=$OUT/team-styles.png file://$R/outbox/styles.html 2>/dev/null
grep -o 'class="tally">[^<]*' outbox/spring/index.html   # the campaign's counts: 1 photo
echo "wrote $OUT/team-gallery.png and $OUT/team-styles.png"

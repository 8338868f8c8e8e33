#!/bin/bash
# A small box with style cards on: one photo, two styles at 192 px, its starry preview
# approved for a 384 px print; the watch daemon renders the cards after the photo.
# Writes docs/team-gallery.png and docs/team-styles.png; take them on a quiet box (the render
# times show on the pages). Needs `make` (the .venv) and Debian's chromium.
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
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
PY=$ROOT/.venv/bin/python
uptime
$PY -m deepart_batch.cli watch --config config.yaml > watch.log 2>&1 &
PID=$!
until [ -f outbox/spring/tubingen.starry.jpg ] && [ -f outbox/spring/tubingen.scream.jpg ]; do sleep 2; done
mkdir -p outbox/_approve && cp outbox/spring/tubingen.starry.jpg outbox/_approve/
until [ -f outbox/spring/tubingen.starry.print.jpg ]; do sleep 2; done
until [ $(ls outbox/_styles/*.jpg 2>/dev/null | wc -l) -ge 4 ]; do sleep 3; done   # 2 paintings x 2 card photos
sleep 3
kill -TERM $PID; wait $PID || true
uptime
$PY -m deepart_batch.cli styles --config config.yaml
ls -R outbox | head -40
/usr/bin/chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1000 --screenshot=$ROOT/docs/team-gallery.png file://$R/outbox/spring/index.html 2>/dev/null
/usr/bin/chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1000 --screenshot=$ROOT/docs/team-styles.png file://$R/outbox/styles.html 2>/dev/null

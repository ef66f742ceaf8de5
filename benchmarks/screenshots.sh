#!/bin/bash
# Screenshots of a run's report, as a reader sees it: full pages at 1400 and 760 px wide, in English and
# Japanese, with headless Chromium (apt-get install chromium fonts-noto-cjk), cut into screen-sized pieces.
#   bash benchmarks/screenshots.sh RUN_DIR OUT_DIR
# Re-renders RUN_DIR/report.html in each language (sslab report --lang), and leaves it in English.
set -euo pipefail
run=$(realpath "$1"); out=$2; mkdir -p "$out"
sslab=${SSLAB:-$(dirname "$0")/../.venv/bin/sslab}
py=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
for lang in en ja; do
  "$sslab" report "$run" --lang "$lang" > /dev/null
  ls -l "$run/report.html" | awk -v l="$lang" '{print l ": report.html " $5 " bytes"}'
  for width in 1400 760; do
    chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
      --window-size="$width,16000" --screenshot="$out/report-$lang-$width.png" "file://$run/report.html" 2>/dev/null
    "$py" - "$out/report-$lang-$width.png" <<'PY'
import sys
from PIL import Image
path = sys.argv[1]
im = Image.open(path).convert("RGB")
# the page's real height: the last row that is not plain white
rows = [y for y in range(im.height - 1, 0, -40) if im.crop((0, y, im.width, y + 1)).getextrema() != ((255, 255), (255, 255), (255, 255))]
height = min(im.height, (rows[0] + 60) if rows else im.height)
for i, top in enumerate(range(0, height, 1000)):
    im.crop((0, top, im.width, min(height, top + 1000))).save(path.replace(".png", f"-{i + 1:02d}.png"))
print(path, im.width, "x", height)
PY
  done
done
"$sslab" report "$run" --lang en > /dev/null

#!/usr/bin/env bash
# Issue 21's captures, reproducible: one emulated device, calibrated, assessed and trained for a week
# (bearing down once), then in each language a guided session as she reads it (--view lines),
# her sessions, and the physiotherapist's report with a screenshot (Chromium, when installed).
# Writes docs/captures/<lang>/{session.txt,sessions.txt,report.html,report.png}.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
out=docs/captures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
d=$work/device
cat > "$work/answers.json" <<'JSON'
{"new_pin": "bekken-2468-fysio", "new_pin_again": "bekken-2468-fysio", "accept": "y", "physio": "PT-7",
 "patient_code": "P-042", "retry": "n", "progression": "y", "days_per_week": "3", "contact.reps": "4",
 "contact.sets": "1"}
JSON
pfmt() { "$PY" -m device.cli "$@"; }
pfmt calibrate --data "$d" --answers "$work/answers.json" --speed 0 > /dev/null
pfmt train --data "$d" --speed 0 --view quiet --programme pressure_assessment > /dev/null
for day in 1 2 3; do pfmt train --data "$d" --speed 0 --view quiet --seed "$day" \
    --patient "$([ "$day" = 2 ] && echo bears_down || echo correct)" > /dev/null; done
chromium=$(command -v chromium || command -v chromium-browser || true)
for lang in en nb sv da; do
  mkdir -p "$out/$lang"
  # a session as she reads it (her language for this session; the store is a copy, so the device's stays as it was)
  cp -r "$d" "$work/$lang" && pfmt train --data "$work/$lang" --speed 0 --view lines --lang "$lang" --seed 7 \
      --patient bears_down > "$out/$lang/session.txt"
  { pfmt sessions list --data "$d" --lang "$lang"; echo; pfmt sessions trend --data "$d" --lang "$lang"; } \
      > "$out/$lang/sessions.txt"
  pfmt report --data "$d" --lang "$lang" --out "$out/$lang/report.html" > /dev/null
  if [ -n "$chromium" ]; then
    "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,1800 \
        --screenshot="$out/$lang/report.png" "file://$PWD/$out/$lang/report.html" > /dev/null 2>&1
  fi
  echo "$lang: $(ls "$out/$lang" | tr '\n' ' ')"
done

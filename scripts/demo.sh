#!/usr/bin/env bash
# The main job on the embedded default (no servers): demo data -> train -> ingest -> evaluate ->
# example searches. Every step reuses what an earlier run built, so a second run is quick.
set -euo pipefail
export HF_HUB_OFFLINE=1
M=".venv/bin/modalign"
DATA="${MODALIGN_PATHS__DATA_DIR:-data}"
say() { if [ -t 1 ]; then printf '\033[1m== %s\033[0m\n' "$*"; else printf '== %s\n' "$*"; fi; }

say "1/6 demo data (Noto emoji + openclipart, from Debian packages)"
$M data build-demo

say "2/6 catalog schema"
$M db upgrade

say "3/6 dual encoder (frozen towers, features cached once, InfoNCE-trained heads)"
if $M models list --json | grep -q '"active": true'; then
  echo "an active model version exists; reusing it (modalign train --version NEW trains another)"
else
  $M train --members 5  # five heads as one: see the README (test R@10 over both targets)
fi
if [ -f "$DATA/models/baseline-toy/ranks-test.json" ] || [ -d "$DATA/models/baseline-toy" ]; then
  echo "toy baseline already trained; reusing it"
else
  $M train --baseline
fi

say "4/6 ingest the whole demo set through the job pipeline (in-process, qdrant-edge + SQLite)"
$M ingest "$DATA/demo/manifest.jsonl" --dataset demo

say "5/6 evaluation on the test split: ours vs the toy baseline (exact ranks)"
$M evaluate --split test

say "6/6 example searches"
echo "-- text -> image: 'a red apple'"
$M search "a red apple" --limit 3
QUERY_IMAGE="$(.venv/bin/python -c "
import json, sys
for line in open('$DATA/demo/manifest.jsonl'):
    item = json.loads(line)
    if item.get('split') == 'test' and item.get('source') == 'openclipart':
        print('$DATA/demo/' + item['path']); break
")"
echo "-- image -> text: $QUERY_IMAGE"
$M search --image "$QUERY_IMAGE" --captions --group-by-asset --limit 2
echo "-- filtered text -> image: 'a happy animal', only emoji"
$M search "a happy animal" --filter source=emoji --limit 3

say "done"
echo "Open the ops dashboard: make serve, then http://127.0.0.1:8000/; a hit's image: add --open N"

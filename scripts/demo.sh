#!/usr/bin/env bash
# The main job on the embedded default: every step reuses what an earlier run built.
set -euo pipefail
BIN=.venv/bin
$BIN/modalign data build-demo

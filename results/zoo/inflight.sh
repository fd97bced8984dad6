#!/usr/bin/env bash
# Carry a zoo run that is still training from one session's machine to the next: the work
# folder outside the repository is not always carried over (2026-12-07: the CBN run's and the
# ResNet pair's checkpoints were lost with it), so at each stop a run's resumable state is
# committed here, and the next session puts it back before resuming.
#
#   bash results/zoo/inflight.sh save RUN_DIR...      # after stopping the runs (SIGINT)
#   git add -f results/zoo/inflight && git commit ...
#   bash results/zoo/inflight.sh restore NAME DEST_RUN_DIR
#
# save keeps, per run: status.json, config.gin, train.log, samples/, logs/, best/ (the best
# evaluation's model folder) and the newest complete checkpoint (what exact resume needs); it
# replaces the run's previous copy. When the run ends, its folder here is removed and the
# finished run is published and recorded as usual.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)/inflight"
case "${1:-}" in
  save)
    shift
    for run in "$@"; do
      name="$(basename "$run")"
      newest="$(ls -d "$run"/checkpoints/step_* 2>/dev/null | sort | tail -n 1 || true)"
      [ -n "$newest" ] && [ -f "$newest/trainer_state.json" ] || { echo "$run: no complete checkpoint" >&2; exit 1; }
      rm -rf "${here:?}/$name" && mkdir -p "$here/$name/checkpoints"
      for part in status.json config.gin train.log samples logs best; do
        [ -e "$run/$part" ] && cp -r "$run/$part" "$here/$name/"
      done
      cp -r "$newest" "$here/$name/checkpoints/"
      echo "$name: $(basename "$newest"), $(du -sh "$here/$name" | cut -f1) -> $here/$name"
    done
    ;;
  restore)
    name="$2" dest="$3"
    [ -d "$here/$name" ] || { echo "no saved run $name in $here" >&2; exit 1; }
    [ ! -e "$dest/checkpoints" ] || { echo "$dest already has checkpoints: not overwritten" >&2; exit 1; }
    mkdir -p "$dest" && cp -r "$here/$name/." "$dest/"
    echo "$name -> $dest (resume with the run's train.py command)"
    ;;
  *) echo "usage: $0 save RUN_DIR... | restore NAME DEST_RUN_DIR" >&2; exit 2 ;;
esac

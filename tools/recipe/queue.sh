#!/bin/bash
# Runs the experiments of a queue file one at a time (one core: the machine is shared), in order; lines
# may be appended while it runs. Each line: TAG ARGS... (train.py's options). Output: LOGDIR/TAG.log.
# usage: tools/recipe/queue.sh QUEUE_FILE LOGDIR
queue=$1; logdir=$2; done_file=$queue.done
mkdir -p "$logdir"; touch "$done_file"
here=$(cd "$(dirname "$0")" && pwd)
while true; do
  line=$(grep -v '^#' "$queue" | grep -v '^\s*$' | grep -vxF -f "$done_file" | head -1)
  [ -z "$line" ] && { sleep 20; continue; }
  [ "$line" = "STOP" ] && exit 0
  tag=${line%% *}; rest=${line#* }
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 "$here/train.py" --tag "$tag" $rest > "$logdir/$tag.log" 2>&1
  echo "$line" >> "$done_file"
done

#!/usr/bin/env bash
# Trains the three models on the NIH cells with the patient-level split (--val-frac 0.2 --seed 1),
# evaluates each on the held-out patients (plain and with --tta: the 8 mirrors/rotations of each cell)
# and prints the table of docs/results.md. Usage:
#   scripts/train_all.sh [MODEL...]         # default: autoencoder resnet18 mobilenetv2
# Environment: DATA (default ../shared/nih-malaria), OUT (build/results), THREADS (all cores),
# BUILD (build). A model whose OUT/NAME.safetensors exists is not retrained (delete it to redo).
set -euo pipefail
build=${BUILD:-build}
plasmo="$build/plasmo"
data=${DATA:-../shared/nih-malaria}
out=${OUT:-$build/results}
threads=${THREADS:-$(nproc)}
split=(--val-frac 0.2 --seed 1)
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(autoencoder resnet18 mobilenetv2)
[ -x "$plasmo" ] || make -s "$plasmo"
[ -d "$data" ] || { echo "plasmo: error: no data at $data (set DATA=DIR)" >&2; exit 1; }
mkdir -p "$out"

# The recipes (measured on the validation patients, docs/results.md says why each choice).
recipe() {
  case "$1" in
    # Each cell normalized by its own foreground colour statistics (stain and lighting differ between
    # patients); Adam with a cosine schedule, no reconstruction pretraining, the seed's augmentation.
    autoencoder) echo "--model autoencoder --normalize foreground --optimizer adam --lr 2e-3
                    --schedule cosine --batch 64 --augment on --pretrain-epochs 0 --epochs 30" ;;
    # A quarter-width ResNet-18 at 64 px: SGD with weight decay and a cosine schedule, vertical flips too.
    resnet18) echo "--model resnet18 --width 0.25 --size 64 --normalize foreground --optimizer sgd --lr 0.05
                    --momentum 0.9 --weight-decay 5e-4 --schedule cosine --batch 64 --augment vflip --epochs 30" ;;
    # torchvision's MobileNetV2 at full width (half width reached 96.40%), the same schedule with
    # ResNet's weight decay (with torchvision's 4e-5 it overfits after epoch 20 of 30).
    mobilenetv2) echo "--model mobilenetv2 --width 1.0 --size 64 --normalize foreground --optimizer sgd --lr 0.05
                    --momentum 0.9 --weight-decay 5e-4 --schedule cosine --batch 64 --augment vflip --epochs 30" ;;
    *) echo "plasmo: error: unknown model '$1' (autoencoder, resnet18, mobilenetv2)" >&2; exit 2 ;;
  esac
}

# json_field FILE KEY -> the number after "KEY": in a metrics JSON
json_field() { grep -o "\"$2\": *[-0-9.e]*" "$1" | head -1 | sed 's/.*: *//'; }

for model in "${models[@]}"; do
  args=$(recipe "$model")
  file="$out/$model.safetensors"
  if [ ! -f "$file" ]; then
    echo "== train $model: plasmo train $args --data $data --out $file ${split[*]}"
    # shellcheck disable=SC2086
    "$plasmo" train $args --data "$data" --out "$file" --log "$out/$model.csv" "${split[@]}" \
      --threads "$threads" 2>&1 | grep -v ' batch ' | tee "$out/$model.train.txt"
  fi
  "$plasmo" eval --model "$file" --data "$data" --split val "${split[@]}" --threads "$threads" \
    --json "$out/$model.val.json" --report "$out/$model.report.html" --log "$out/$model.csv" --quiet \
    > "$out/$model.val.txt"
  "$plasmo" eval --model "$file" --data "$data" --split val "${split[@]}" --threads "$threads" --tta \
    --json "$out/$model.val-tta.json" --quiet > "$out/$model.val-tta.txt"
  "$plasmo" info "$file" > "$out/$model.info.txt"
done

# The table: one row per model.
pct() { awk -v v="$1" 'BEGIN { printf "%.2f%%", 100 * v }'; }
num() { awk -v v="$1" 'BEGIN { printf "%.4f", v }'; }
echo
echo "| model | accuracy | accuracy (tta) | AUC | AUC (tta) | loss | F1 | precision | sensitivity | specificity | parameters | file bytes | MACs/image | training time | train images/s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for model in "${models[@]}"; do
  j="$out/$model.val.json" t="$out/$model.val-tta.json"
  params=$(awk '/^total/ { print $2 }' "$out/$model.info.txt")
  macs=$(awk '/MACs per image \(/ { print $1; exit }' "$out/$model.info.txt")
  bytes=$(wc -c < "$out/$model.safetensors" | tr -d ' ')
  # Training time: the epochs' seconds (pretraining included); images/s: mean over the classifier epochs.
  logs=("$out/$model.csv")
  [ -f "$out/$model.pretrain.csv" ] && logs+=("$out/$model.pretrain.csv")
  seconds=$(awk -F, '$1 ~ /^[0-9]+$/ { s += $NF } END { printf "%.0f", s }' "${logs[@]}")
  rate=$(awk -F, 'NR > 1 { s += $9; n++ } END { printf "%.0f", s / n }' "$out/$model.csv")
  echo "| $model | $(pct "$(json_field "$j" accuracy)") | $(pct "$(json_field "$t" accuracy)") |" \
       "$(num "$(json_field "$j" auc)") | $(num "$(json_field "$t" auc)") | $(num "$(json_field "$j" loss)") |" \
       "$(num "$(json_field "$j" f1)") | $(pct "$(json_field "$j" precision)") | $(pct "$(json_field "$j" sensitivity)") |" \
       "$(pct "$(json_field "$j" specificity)") | $params | $bytes | $macs | $(( seconds / 60 )) min $(( seconds % 60 )) s | $rate |"
done

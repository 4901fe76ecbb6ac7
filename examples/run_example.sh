#!/bin/sh
# The worked example of README.md ("Your own networks"), from this folder:
# lmctui trains the user CNN on digits with 2 seeds, a plain torch script trains a third,
# lmctui imports it, and the pairs are interpolated naively and after weight matching.
set -e
cd "$(dirname "$0")"
HOME_DIR=${LMCTUI_HOME:-example-runs}
python make_digits_npz.py digits.npz
lmctui-cli train --dataset npz:digits.npz --arch user_cnn.py:make_cnn --width 16 --seeds 0-1 --epochs 20 \
    --device cpu --home "$HOME_DIR" --tag example --json > train.json
python train_plain.py digits.npz plain.safetensors
lmctui-cli import plain.safetensors --arch user_cnn.py:make_cnn --width 16 --dataset npz:digits.npz \
    --device cpu --home "$HOME_DIR" --tag example --json > import.json
id_of() { python -c "import json, sys; print(json.load(open(sys.argv[1]))['runs'][int(sys.argv[2])]['id'])" "$1" "$2"; }
A=$(id_of train.json 0); B=$(id_of train.json 1); C=$(id_of import.json 0)
lmctui-cli interp "$A" "$B" --methods naive,weight --device cpu --home "$HOME_DIR"
lmctui-cli interp "$A" "$C" --methods naive,weight --device cpu --home "$HOME_DIR"
lmctui-cli list runs --home "$HOME_DIR"

"""Study 5: VGG and ResNet-20 on CIFAR-10 across width multipliers, on a GPU.

    .venv/bin/python experiments/images_gpu.py --data-dir DIR [--download] [--quick]

For VGG (LayerNorm) and ResNet-20 (LayerNorm and BatchNorm) at width multipliers 1, 2,
4 and 8 (quick: 1 and 2, fewer epochs): naive and weight-matched barriers, then for the
BatchNorm net the same pairs with BatchNorm statistics left as interpolated (no reset)
and with REPAIR. Needs CIFAR-10 under DIR (torchvision layout) and a CUDA device.
"""

import argparse
import itertools

from common import registry, write_rows

from lmctui.core.data import DataConfig
from lmctui.core.interpolation import InterpolationOptions
from lmctui.core.training import TrainConfig
from lmctui.service.requests import InterpRequest
from lmctui.service.science import interp
from lmctui.service.training import TrainRequest, train_runs

MODELS = [("vgg", "layer"), ("resnet20", "layer"), ("resnet20", "batch")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--download", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--home", default=None)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    reg = registry(args.home)
    widths = [1, 2] if args.quick else [1, 2, 4, 8]
    train = TrainConfig(epochs=5 if args.quick else 50, lr=0.1, batch_size=256, weight_decay=5e-4,
                        warmup_epochs=1, schedule="cosine")
    rows = []
    for (arch, norm), width in itertools.product(MODELS, widths):
        request = TrainRequest(DataConfig("cifar10", data_dir=args.data_dir, download=args.download), arch=arch,
                               width=width, norm=norm, train=train, seeds=(0, 1), device=args.device)
        a, b = (r["id"] for r in train_runs(reg, request))
        variants = [("", InterpolationOptions())]
        if norm == "batch":
            variants += [(" no BN reset", InterpolationOptions(reset_bn=False)),
                         (" REPAIR", InterpolationOptions(repair=True))]
        for suffix, options in variants:
            for curve in interp(reg, InterpRequest(a, b, ("naive", "weight"), options, device=args.device)):
                rows.append({"arch": arch, "norm": norm, "width": width, "method": curve["method"] + suffix,
                             **{k: curve[k] for k in ("loss_barrier_test", "error_barrier_test",
                                                      "mid_acc_test", "loss_barrier_train")}})
                print(rows[-1])
    write_rows("study5_images_gpu", rows)


if __name__ == "__main__":
    main()

"""The names every layer accepts, in one torch-free place (forms validate against these)."""

TOY_DATASETS = ("moons", "circles", "spirals", "blobs", "xor")
IMAGE_DATASETS = ("mnist", "fashion-mnist", "cifar10")  # torchvision files under a data folder
BUNDLED_DATASETS = ("digits", "mnist-5k")  # real images shipped inside a Python package: no download
SEQUENCE_DATASETS = ("modadd",)  # token sequences generated in code (a b = -> (a + b) mod p)
DATASETS = TOY_DATASETS + BUNDLED_DATASETS + IMAGE_DATASETS + SEQUENCE_DATASETS
ARCHS = ("mlp", "vgg", "resnet20", "vit", "gpt")
TRANSFORMER_ARCHS = ("vit", "gpt")
DEPTH_ARCHS = ("mlp",) + TRANSFORMER_ARCHS  # whose --depth counts: MLP hidden layers, transformer blocks
NORMS = ("none", "batch", "layer")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine")
JOB_KINDS = ("train", "align", "interp", "average", "sweep")  # one request type each (service.requests)
LINKAGES = ("average", "complete")  # basins: the mean barrier between two groups, or the largest
# The alignment methods are not listed here: they are a registry (lmctui.service.methods).
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3}

"""The names every layer accepts, in one torch-free place (forms validate against these)."""

TOY_DATASETS = ("moons", "circles", "spirals", "blobs", "xor")
IMAGE_DATASETS = ("mnist", "fashion-mnist", "cifar10")  # torchvision files under a data folder
BUNDLED_DATASETS = ("digits", "mnist-5k")  # real images shipped inside a Python package: no download
SEQUENCE_DATASETS = ("modadd",)  # token sequences generated in code (a b = -> (a + b) mod p)
DATASETS = TOY_DATASETS + BUNDLED_DATASETS + IMAGE_DATASETS + SEQUENCE_DATASETS
ARCHS = ("mlp", "vgg", "resnet20", "vit", "gpt")
TRANSFORMER_ARCHS = ("vit", "gpt")
NORMS = ("none", "batch", "layer")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine")
CURVE_METHODS = ("naive", "weight", "activation", "ste")
ALIGN_METHODS = ("weight", "activation", "ste")  # ste: straight-through estimator matching
AVERAGE_METHODS = ("naive", "weight", "activation", "ste", "mergemany", "universe")  # universe: one shared frame
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3}

"""Networks from outside lmctui: an architecture named `MODULE:FACTORY` or `PATH/TO/FILE.py:FACTORY`.

The factory is called as `FACTORY(input_shape, num_classes, **arch_args)` (with `width=`
too when the run names a width) and must return an `nn.Module`. A module name resolves
against installed modules and PYTHONPATH; a `.py` path is loaded from that file, never
from inside a registry home. A run records the arch, its arguments and the sha256 of
the source file; a run naming a file by path is rebuilt from it only while that sha256
matches (the file is the model's only definition), a run naming a module is rebuilt
from the current module with a notice (`source_change`).

Torch-free at import, so the CLI can refuse a malformed arch in milliseconds; the user's
code and torch are imported inside the work.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from lmctui.errors import FieldError, UserError

SEPARATOR = ":"
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_ARCH_ARGS = 64
# The global RNG is forked around a factory call (a user's layers draw their init from
# it); one factory call at a time keeps two worker threads from drawing from each other's seed.
_BUILD_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], object] = {}  # (file, sha256) -> module loaded from it


def is_user_arch(arch: str) -> bool:
    """Whether `arch` names a user's factory rather than a built-in architecture."""
    return isinstance(arch, str) and SEPARATOR in arch


@dataclass(frozen=True)
class ArchRef:
    """A parsed `MODULE:FACTORY` or `FILE.py:FACTORY`."""

    target: str  # a dotted module name, or a file path
    factory: str
    is_path: bool

    @property
    def text(self) -> str:
        return f"{self.target}{SEPARATOR}{self.factory}"


def parse_arch(arch: str) -> ArchRef:
    """Split and check the form of a user arch (nothing is imported)."""
    target, _, factory = arch.rpartition(SEPARATOR)
    if not _IDENTIFIER.match(factory):
        raise FieldError("arch", f"{arch!r}: the part after ':' must name a function or class, got {factory!r}")
    if target.endswith(".py") or "/" in target or "\\" in target:
        return ArchRef(target, factory, is_path=True)
    if not _DOTTED.match(target):
        raise FieldError("arch", f"{arch!r}: give MODULE:FACTORY (a dotted module name) or PATH/TO/FILE.py:FACTORY")
    return ArchRef(target, factory, is_path=False)


def canonical_arch(arch: str, home: str | Path | None = None) -> str:
    """The arch as a run records it: a file path made absolute (and checked: a `.py` file,
    outside the registry `home`), a module name as given."""
    ref = parse_arch(arch)
    if not ref.is_path:
        return ref.text
    path = Path(ref.target).expanduser().resolve()
    if path.suffix != ".py" or not path.is_file():
        raise FieldError("arch", f"{ref.target} is not a Python file (.py)")
    _refuse_registry_file(path, home)
    return ArchRef(str(path), ref.factory, True).text


REGISTRY_MANIFEST = "registry.json"  # what marks a registry home (store/layout.py), named here to stay a leaf


def _refuse_registry_file(path: Path, home: str | Path | None = None) -> None:
    """A model file is the user's own: never one inside `home` or inside any folder that is a registry home."""
    path = path.resolve()
    inside = (home is not None and _inside(path, Path(home))) or \
        any((parent / REGISTRY_MANIFEST).is_file() for parent in path.parents)
    if inside:
        raise FieldError("arch", f"{path} is inside a registry home; a model is loaded only from your own "
                                 "files, never from a registry")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.expanduser().resolve())
    except ValueError:
        return False
    return True


def parse_arch_arg(text: str) -> tuple[str, object]:
    """`KEY=VALUE`: the value as JSON where it parses (`3`, `true`, `[1, 2]`), else the string itself."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _IDENTIFIER.match(key):
        raise FieldError("arch_arg", f"must be KEY=VALUE with KEY a Python name, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def parse_arch_args(texts) -> dict:
    """Every `KEY=VALUE` of a repeated option, a key given twice refused."""
    args: dict = {}
    for text in texts:
        key, value = parse_arch_arg(text)
        if key in args:
            raise FieldError("arch_arg", f"gives {key} twice")
        args[key] = value
    return args


def check_arch_args(arch: str, args) -> dict:
    """Arch arguments: a JSON object, only for a user arch, not naming what lmctui passes itself."""
    if not isinstance(args, dict):
        raise FieldError("arch_args", f"must be a mapping of names to values, got {args!r}")
    if args and not is_user_arch(arch):
        raise FieldError("arch_args", f"apply to your own models (MODULE:FACTORY) only, not {arch}")
    if len(args) > MAX_ARCH_ARGS:
        raise FieldError("arch_args", f"must be at most {MAX_ARCH_ARGS}, got {len(args)}")
    for key in args:
        if not isinstance(key, str) or not _IDENTIFIER.match(key) or key in ("input_shape", "num_classes"):
            raise FieldError("arch_args", f"cannot name {key!r} (input_shape and num_classes come from the data)")
    try:
        json.dumps(args)
    except (TypeError, ValueError):
        raise FieldError("arch_args", f"must be JSON values, got {args!r}") from None
    return args


def source_file(arch: str) -> Path:
    """The file that defines the arch's module (a module is located, not imported)."""
    ref = parse_arch(arch)
    if ref.is_path:
        return Path(ref.target)
    try:
        spec = importlib.util.find_spec(ref.target)
    except (ImportError, ValueError) as err:  # a parent package that does not import
        raise FieldError("arch", f"{ref.target} does not import: {_one_line(err)}") from None
    if spec is None:
        raise FieldError("arch", f"no module named {ref.target} (it is looked up in the installed modules "
                                 "and PYTHONPATH; or give PATH/TO/FILE.py:FACTORY)")
    if not spec.origin or not Path(spec.origin).is_file():
        raise FieldError("arch", f"{ref.target} has no source file to record")
    return Path(spec.origin)


def check_source(arch: str) -> None:
    """The arch's module or file can be found (nothing is imported): a typo is refused before any work."""
    path = source_file(arch)
    if not path.is_file():
        raise FieldError("arch", f"{path} is not a file")


def source_sha256(arch: str) -> str:
    """The sha256 of the arch's source file, as a run records it."""
    path = source_file(arch)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise FieldError("arch", f"cannot read {path}: {err.strerror}") from None


def source_change(arch: str, recorded: str | None) -> str | None:
    """A one-line notice when a module arch's source differs from the recorded sha256 (else None)."""
    if recorded is None or not is_user_arch(arch):
        return None
    current = source_sha256(arch)
    if current == recorded:
        return None
    return (f"note: the source of {arch} ({source_file(arch)}) changed since the run was made "
            f"(sha256 {recorded[:12]} then, {current[:12]} now)")


def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr)


# Where the notice that a module's source changed goes, once per message: stderr by
# default; an interface that owns the terminal (the app) points it at itself.
notice_sink = _stderr_line
_NOTICED: set[str] = set()


def say_once(text: str | None) -> None:
    """Tell `text` to `notice_sink`, once per process."""
    if text is not None and text not in _NOTICED:
        _NOTICED.add(text)
        notice_sink(text)


def load_factory(arch: str, recorded_sha256: str | None = None):
    """Import the arch's module and return its factory.

    A file named by path is loaded only while its sha256 matches `recorded_sha256` (when
    given); a module whose source no longer matches it is imported with a notice, once.
    """
    ref = parse_arch(arch)
    if ref.is_path:
        module = _load_file(Path(ref.target), recorded_sha256)
    else:
        try:
            module = importlib.import_module(ref.target)
        except Exception as err:  # the user's code: whatever it raises is one line
            raise FieldError("arch", f"{ref.target} does not import: {_one_line(err)}") from None
        say_once(source_change(arch, recorded_sha256))
    factory = getattr(module, ref.factory, None)
    if factory is None or not callable(factory):
        raise FieldError("arch", f"{ref.target} has no function or class {ref.factory}")
    return factory


def _load_file(path: Path, recorded_sha256: str | None):
    _refuse_registry_file(path)
    try:
        source = path.read_bytes()
    except OSError as err:
        raise FieldError("arch", f"cannot read {path}: {err.strerror or err}") from None
    digest = hashlib.sha256(source).hexdigest()
    if recorded_sha256 is not None and digest != recorded_sha256:
        raise UserError(f"{path} changed since the run was made (sha256 {recorded_sha256[:12]} then, "
                        f"{digest[:12]} now): a model named by its file is rebuilt only from the same source")
    key = (str(path), digest)
    if key not in _LOADED:
        name = f"lmctui_user_{path.stem}_{digest[:12]}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look their module up here
        sys.path.insert(0, str(path.parent))  # its sibling files import as they do in that folder
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # the user's code
            del sys.modules[name]
            raise FieldError("arch", f"{path} does not import: {_one_line(err)}") from None
        finally:
            sys.path.remove(str(path.parent))
        _LOADED[key] = module
    return _LOADED[key]


def takes_width(factory) -> bool:
    """Whether the factory has a `width` parameter (a width sweep passes it)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "width" in parameters


def build_user_model(arch: str, input_shape: tuple[int, ...], num_classes: int, arch_args: dict,
                     width: int | None = None, seed: int | None = None, recorded_sha256: str | None = None):
    """Call the factory; with `seed`, its layers' init is drawn from that seed alone."""
    import torch

    factory = load_factory(arch, recorded_sha256)
    kwargs = dict(arch_args)
    if width is not None:
        if not takes_width(factory):
            raise FieldError("width", f"cannot be passed: {parse_arch(arch).factory} takes no width argument")
        kwargs["width"] = width
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        try:
            model = factory(tuple(input_shape), num_classes, **kwargs)
        except Exception as err:  # the user's code
            raise UserError(f"{arch}({tuple(input_shape)}, {num_classes}{_kwargs_text(kwargs)}) raised "
                            f"{_one_line(err)}") from None
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"{arch} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _kwargs_text(kwargs: dict) -> str:
    return "".join(f", {k}={v!r}" for k, v in kwargs.items())


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def short_arch(arch: str, limit: int = 24) -> str:
    """An arch for a narrow column: a file path shortened to its name, then cut from the left."""
    if not is_user_arch(arch):
        return arch
    ref = parse_arch(arch)
    text = f"{Path(ref.target).name}:{ref.factory}" if ref.is_path else ref.text
    return text if len(text) <= limit else "…" + text[-(limit - 1):]

"""Damaged datasets for every format sslab reads, and what loading each does (run by test_fuzz.py in a child
process whose address space is capped, so a loader that allocates by a header's or a label's value fails).

    python tests/fuzz_loaders.py FORMAT WORKDIR   ->  one JSON line per damaged file: {"what", "outcome", ...}

Each format starts from a small valid dataset written here, then damages it with a fixed seed: bit flips,
truncations, overwritten headers, garbage appended, empty files, and the format's own absurd values
(dimensions, label values, dtypes, empty splits).
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import resource
import shutil
import signal
import sys
import tarfile
import time
import traceback
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

N_MUTANTS = 200  # damaged files per format, at least
_TEMPLATES = itertools.count()
LIMIT_SECONDS = 5
EXTRA_MEMORY = 1536 << 20  # bytes of address space a load may take beyond what the process holds at the start


# --- valid datasets --------------------------------------------------------------------------------------

def _npz(path: Path, compressed: bool, **arrays) -> None:
    (np.savez_compressed if compressed else np.savez)(path, **arrays)


def _dsprites(rng: np.random.Generator) -> dict:
    n = 40
    return {"imgs": (rng.random((n, 64, 64)) < 0.1).astype(np.uint8),
            "latents_values": np.stack([rng.integers(1, 4, n), rng.choice([0.5, 0.6, 0.7], n),
                                        rng.random(n) * 6.28, rng.random(n), rng.random(n)], 1),
            "latents_classes": np.stack([rng.integers(0, 3, n), rng.integers(0, 6, n), rng.integers(0, 40, n),
                                         rng.integers(0, 32, n), rng.integers(0, 32, n)], 1)}


def _medmnist(rng: np.random.Generator, rgb: bool = False) -> dict:
    out = {}
    for split, n in (("train", 30), ("val", 10), ("test", 10)):
        shape = (n, 28, 28, 3) if rgb else (n, 28, 28)
        out[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        out[f"{split}_labels"] = rng.integers(0, 2, (n, 1), dtype=np.uint8)
    return out


def _keras(rng: np.random.Generator) -> dict:
    return {"x_train": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), "y_train": rng.integers(0, 10, 30),
            "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), "y_test": rng.integers(0, 10, 10)}


def _idx(n: int, rows: int, cols: int, pixels: bytes | None = None, magic: int = 0x803) -> bytes:
    head = magic.to_bytes(4, "big") + n.to_bytes(4, "big") + rows.to_bytes(4, "big") + cols.to_bytes(4, "big")
    return head + (pixels if pixels is not None else bytes(n * rows * cols))


def _idx_labels(labels: bytes, n: int | None = None, magic: int = 0x801) -> bytes:
    return magic.to_bytes(4, "big") + (len(labels) if n is None else n).to_bytes(4, "big") + labels


def write_mnist_idx(root: Path, rng: np.random.Generator, gz: bool) -> Path:
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for split, n in (("train", 30), ("t10k", 10)):
        files = {f"{split}-images-idx3-ubyte": _idx(n, 28, 28, rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes()),
                 f"{split}-labels-idx1-ubyte": _idx_labels(rng.integers(0, 10, n, dtype=np.uint8).tobytes())}
        for name, data in files.items():
            (folder / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return folder


def _cifar_records(rng: np.random.Generator, n: int) -> bytes:
    return b"".join(bytes([int(rng.integers(0, 10))]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
                    for _ in range(n))


def write_cifar(root: Path, rng: np.random.Generator, tar: bool) -> Path:
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    (folder / "data_batch_1.bin").write_bytes(_cifar_records(rng, 20))
    (folder / "test_batch.bin").write_bytes(_cifar_records(rng, 10))
    (folder / "batches.meta.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")
    if not tar:
        return folder
    archive = root / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(folder, arcname="cifar-10-batches-bin")
    shutil.rmtree(folder)
    return archive


def write_stl10(root: Path, rng: np.random.Generator) -> Path:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    for split, n in (("train", 8), ("test", 6)):
        (folder / f"{split}_X.bin").write_bytes(rng.integers(0, 256, n * 27648, dtype=np.uint8).tobytes())
        (folder / f"{split}_y.bin").write_bytes(rng.integers(1, 11, n, dtype=np.uint8).tobytes())
    (folder / "unlabeled_X.bin").write_bytes(rng.integers(0, 256, 4 * 27648, dtype=np.uint8).tobytes())
    return folder


def write_folder(root: Path, rng: np.random.Generator) -> Path:
    from PIL import Image

    folder = root / "photos"
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            (folder / split / c).mkdir(parents=True)
            for i in range(6):
                pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
                fmt = ("PNG", "JPEG", "BMP")[i % 3]
                Image.fromarray(pixels).save(folder / split / c / f"{i}.{fmt.lower()}", fmt)
    return folder


# --- damage ----------------------------------------------------------------------------------------------

def byte_damage(data: bytes, rng: np.random.Generator) -> Iterator[tuple[str, bytes]]:
    """Ways to damage a file's bytes, each drawn from rng."""
    n = len(data)
    yield "empty", b""
    yield "truncated to its header", data[: min(n, int(rng.integers(1, 64)))]
    for _ in range(3):
        cut = int(rng.integers(0, max(1, n)))
        yield f"truncated at {cut}", data[:cut]
    for k in (1, 8, 64):
        b = bytearray(data)
        for pos in rng.integers(0, max(1, n), k):
            if n:
                b[pos] ^= 1 << int(rng.integers(0, 8))
        yield f"{k} bits flipped", bytes(b)
    b = bytearray(data)
    head = min(n, 128)
    b[:head] = rng.integers(0, 256, head, dtype=np.uint8).tobytes()
    yield "header overwritten", bytes(b)
    yield "garbage appended", data + rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()


Mutant = tuple[str, Callable[[Path], Path]]  # (what, write it under a fresh folder -> the path to load)


def npz_mutants(arrays: dict, rng: np.random.Generator, name: str) -> Iterator[Mutant]:
    """An npz: its bytes damaged (compressed and not), and its arrays replaced by absurd ones."""
    for compressed in (True, False):
        buf = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(buf, **arrays)
        for what, data in byte_damage(buf.getvalue(), rng):
            yield f"{'compressed ' if compressed else ''}npz {what}", _writer(name, data)
    for key, value in arrays.items():
        for what, bad in _absurd(value, rng):
            changed = dict(arrays) | {key: bad}
            yield f"{key} {what}", _npz_writer(name, changed, bool(rng.integers(0, 2)))
        others = {k: v for k, v in arrays.items() if k != key}
        yield f"{key} missing", _npz_writer(name, others, False)
    for key, value in arrays.items():  # a header that claims more than the member holds
        yield f"{key} header claims 2**40 rows", _lying_npz(name, arrays, key)


def _absurd(value: np.ndarray, rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    yield "empty", value[:0]
    yield "as float64", value.astype(np.float64)
    yield "as int8", value.astype(np.int8)
    yield "one dimension fewer", value.reshape(-1)
    yield "one dimension more", value[..., None]
    yield "as object", np.array([None] * min(3, len(value)), dtype=object)
    if np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating):
        for v in (2**40, -5, 2**31 - 1, 255, np.nan, np.inf):
            bad = value.astype(np.float64 if isinstance(v, float) else np.int64).copy()
            bad.flat[int(rng.integers(0, max(1, bad.size)))] = v
            yield f"holding {v}", bad
    yield "one row", value[:1]


def _writer(name: str, data: bytes) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path
    return write


def _npz_writer(name: str, arrays: dict, compressed: bool) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / name
        buf = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(buf, **arrays)
        path.write_bytes(buf.getvalue())
        return path
    return write


def _lying_npz(name: str, arrays: dict, key: str) -> Callable[[Path], Path]:
    """An npz whose member `key` has a .npy header announcing 2**40 rows over the same few bytes."""
    def write(folder: Path) -> Path:
        path = folder / name
        with zipfile.ZipFile(path, "w") as z:
            for k, v in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, v, allow_pickle=False)
                data = buf.getvalue()
                if k == key:
                    header = {"descr": np.lib.format.dtype_to_descr(v.dtype), "fortran_order": False,
                              "shape": (2**40, *v.shape[1:])}
                    out = io.BytesIO()
                    np.lib.format.write_array_header_1_0(out, header)
                    data = out.getvalue() + data[len(data) - v.nbytes:]
                z.writestr(f"{k}.npy", data)
        return path
    return write


def folder_mutants(make: Callable[[Path, np.random.Generator], Path], rng: np.random.Generator,
                   extra: Callable[[Path], Iterator[tuple[str, Callable[[Path], None]]]] | None = None
                   ) -> Iterator[Mutant]:
    """A dataset of several files: each file damaged in every way (one file at a time), then extra edits."""
    template = Path(sys.argv[2]) / f"template-{next(_TEMPLATES)}"  # each dataset its own, kept to the end
    template.mkdir(parents=True)
    top = make(template, np.random.default_rng(0))
    files = sorted(p for p in (top.rglob("*") if top.is_dir() else [top]) if p.is_file())
    for f in files:
        rel = f.relative_to(template)
        for what, data in byte_damage(f.read_bytes(), rng):
            yield f"{rel} {what}", _copy_edit(template, top, lambda root, rel=rel, data=data: (root / rel).write_bytes(data))
        yield f"{rel} removed", _copy_edit(template, top, lambda root, rel=rel: (root / rel).unlink())
    for what, edit in (extra(top) if extra else ()):
        yield what, _copy_edit(template, top, edit)


def _copy_edit(template: Path, top: Path, edit: Callable[[Path], None]) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        for item in template.iterdir():
            (shutil.copytree if item.is_dir() else shutil.copy)(item, folder / item.name)
        edit(folder)
        return folder / top.relative_to(template)
    return write


def idx_extra(top: Path) -> Iterator[tuple[str, Callable[[Path], None]]]:
    images = "mnist/train-images-idx3-ubyte"
    labels = "mnist/train-labels-idx1-ubyte"
    for n, rows, cols in ((0, 28, 28), (2**31 - 1, 28, 28), (30, 0, 28), (30, 2**16, 2**16), (2**32 - 1, 1, 1),
                          (30, 1, 784), (31, 28, 28)):
        yield f"images header {n}x{rows}x{cols}", lambda r, h=(n, rows, cols): (r / images).write_bytes(
            _idx(*h, pixels=bytes(30 * 784)))
    yield "images magic of labels", lambda r: (r / images).write_bytes(_idx(30, 28, 28, magic=0x801))
    yield "labels count 2**32-1", lambda r: (r / labels).write_bytes(_idx_labels(bytes(30), 2**32 - 1))
    yield "labels count 0", lambda r: (r / labels).write_bytes(_idx_labels(b"", 0))
    yield "labels all 255", lambda r: (r / labels).write_bytes(_idx_labels(bytes([255]) * 30))


def cifar_extra(top: Path) -> Iterator[tuple[str, Callable[[Path], None]]]:
    batch = "cifar-10-batches-bin/data_batch_1.bin"
    yield "labels byte 200", lambda r: (r / batch).write_bytes(bytes([200]) + bytes(3072))
    yield "half a record", lambda r: (r / batch).write_bytes(bytes(1500))
    yield "no batches at all", lambda r: [(r / "cifar-10-batches-bin" / f).unlink()
                                          for f in ("data_batch_1.bin", "test_batch.bin")]
    yield "empty class names", lambda r: (r / "cifar-10-batches-bin/batches.meta.txt").write_text("")
    yield "binary class names", lambda r: (r / "cifar-10-batches-bin/batches.meta.txt").write_bytes(bytes(range(256)))


def stl10_extra(top: Path) -> Iterator[tuple[str, Callable[[Path], None]]]:
    yield "labels 0 and 11", lambda r: (r / "stl10_binary/train_y.bin").write_bytes(bytes([0, 11] * 4))
    yield "labels of another split's length", lambda r: (r / "stl10_binary/train_y.bin").write_bytes(bytes([1] * 5))
    yield "class names of binary", lambda r: (r / "stl10_binary/class_names.txt").write_bytes(bytes(range(256)))


def folder_extra(top: Path) -> Iterator[tuple[str, Callable[[Path], None]]]:
    png = "photos/train/cat/0.png"

    def giant(r: Path) -> None:  # a PNG header announcing 60000 x 60000 pixels over a few bytes
        data = bytearray((r / png).read_bytes())
        data[16:24] = (60000).to_bytes(4, "big") * 2
        (r / png).write_bytes(bytes(data))

    yield "PNG announcing 60000x60000", giant
    yield "text file named .jpg", lambda r: (r / "photos/train/dog/x.jpg").write_text("not an image")
    yield "empty class folder", lambda r: (r / "photos/train/bird").mkdir()
    yield "no images at all", lambda r: [p.unlink() for p in (r / "photos").rglob("*.*")]


def prepared_extra(top: Path) -> Iterator[tuple[str, Callable[[Path], None]]]:
    meta = top.name + "/sslab.json"
    original = json.loads((top / "sslab.json").read_text())
    for what, change in (("shape of 2**40 images", {"shape": [2**40, 1, 28, 28]}), ("shape of 3 numbers", {"shape": [1, 2, 3]}),
                         ("no class names", {"class_names": []}), ("class names not a list", {"class_names": 5}),
                         ("unknown format", {"format": "nothing"}), ("negative shape", {"shape": [-1, 1, 28, 28]})):
        yield f"sslab.json {what}", lambda r, c=change: (r / meta).write_text(json.dumps(original | c))
    yield "sslab.json not JSON", lambda r: (r / meta).write_text("{")
    labels = top.name + "/labels.npy"
    for what, arr in (("labels 2**40", np.array([2**40] * 50)), ("labels float", np.zeros(50)),
                      ("labels too few", np.zeros(3, np.int64)), ("labels negative", np.full(50, -7))):
        yield what, lambda r, a=arr: np.save(r / labels, a)
    yield "split beyond the images", lambda r: np.save(r / (top.name + "/split-train.npy"), np.array([10**9]))


def mutants(fmt: str, rng: np.random.Generator) -> Iterator[Mutant]:
    if fmt == "dsprites":
        yield from npz_mutants(_dsprites(rng), rng, "dsprites.npz")
    elif fmt == "medmnist":
        yield from npz_mutants(_medmnist(rng), rng, "pneumoniamnist.npz")
        yield from npz_mutants(_medmnist(rng, rgb=True), rng, "retinamnist.npz")
    elif fmt == "mnist_npz":
        yield from npz_mutants(_keras(rng), rng, "mnist.npz")
    elif fmt == "mnist_idx":
        yield from folder_mutants(lambda root, r: write_mnist_idx(root, r, gz=True), rng, idx_extra)
        yield from folder_mutants(lambda root, r: write_mnist_idx(root, r, gz=False), rng)
    elif fmt == "cifar":
        yield from folder_mutants(lambda root, r: write_cifar(root, r, tar=False), rng, cifar_extra)
        yield from folder_mutants(lambda root, r: write_cifar(root, r, tar=True), rng)
    elif fmt == "stl10":
        yield from folder_mutants(write_stl10, rng, stl10_extra)
    elif fmt == "folder":
        yield from folder_mutants(write_folder, rng, folder_extra)
    elif fmt == "prepared":
        def prepare(root: Path, r: np.random.Generator) -> Path:
            from sslab import data

            src = root / "src.npz"
            _npz(src, False, **_medmnist(r))
            data.prepare(src, root / "prepared")
            src.unlink()
            return root / "prepared"
        yield from folder_mutants(prepare, rng, prepared_extra)
    else:
        raise SystemExit(f"unknown format {fmt}")


def _more(fmt: str, rng: np.random.Generator) -> Iterator[Mutant]:
    """Endless rounds of fresh random damage (bit flips and truncations drawn anew) of the format's files."""
    while True:
        for what, write in mutants(fmt, rng):
            if "bits flipped" in what or "truncated at" in what:
                yield f"{what} (round 2+)", write


# --- the child process --------------------------------------------------------------------------------------

def _timeout(signum, frame):
    raise TimeoutError(f"took more than {LIMIT_SECONDS} s")


def main(fmt: str, work: Path) -> None:
    import torch

    from sslab import data
    from sslab.errors import SslabError

    torch.set_num_threads(1)
    rng = np.random.default_rng(sum(map(ord, fmt)))  # a fixed seed per format
    todo = list(mutants(fmt, rng))
    extra = _more(fmt, rng)
    while len(todo) < N_MUTANTS + 10:  # more random damage of the same kinds, up to the count
        todo.append(next(extra))
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + EXTRA_MEMORY, resource.getrlimit(resource.RLIMIT_AS)[1]))
    signal.signal(signal.SIGALRM, _timeout)
    for k, (what, write) in enumerate(todo):
        folder = work / f"m{k}"
        folder.mkdir(parents=True)
        path = write(folder)
        t0 = time.perf_counter()
        signal.alarm(LIMIT_SECONDS)
        try:
            images = data.load(path)
            outcome, detail = "loaded", f"{len(images)} images"
        except SslabError as e:
            outcome, detail = "error", str(e)
        except BaseException as e:  # noqa: BLE001 -- anything else is what this hunts for
            outcome, detail = "crash", "".join(traceback.format_exception_only(type(e), e)).strip() + \
                " | " + traceback.format_tb(e.__traceback__)[-1].strip().replace("\n", " ")
        finally:
            signal.alarm(0)
        print(json.dumps({"what": what, "outcome": outcome, "detail": detail,
                          "seconds": round(time.perf_counter() - t0, 3)}), flush=True)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))

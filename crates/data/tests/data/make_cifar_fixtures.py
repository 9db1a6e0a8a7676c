"""Writes the tiny CIFAR-10 python-format fixtures used by the data crate's tests.

Run from this directory with numpy installed: `python3 make_cifar_fixtures.py`.
The Rust tests never run Python; they read the files this script committed.

Outputs:
- cifar-10-python.tar.gz: the official archive layout (cifar-10-batches-py/data_batch_1..5,
  test_batch, batches.meta) with RECORDS records per batch, pickled the way the official
  files were (Python 2 cPickle, protocol 2: byte strings as STRING opcodes, numpy arrays via
  numpy.core.multiarray._reconstruct and __setstate__).
- py3_data_batch_1: batch 1 as Python 3 writes it with protocol 2 (byte strings through
  _codecs.encode), the form of a batch re-pickled by a Python 3 user.

Pixels and labels follow `pixel` and `label` below; the Rust tests build the binary-format
fixtures from the same formulas and check that both formats decode to the same images.
"""

import gzip
import io
import pickle
import tarfile

import numpy as np

RECORDS = 20
IMAGE_LEN = 3 * 32 * 32


def pixel(batch, record, idx):
    """Pixel `idx` (0..3072) of `record` in batch `batch` (1-based; 6 is the test batch)."""
    return (37 * batch + 11 * record + 3 * idx) % 256


def label(batch, record):
    return (3 * record + batch) % 10


def batch_dict(batch):
    idx = np.arange(IMAGE_LEN)
    data = np.stack([np.array([pixel(batch, r, i) for i in idx], dtype=np.uint8)
                     for r in range(RECORDS)])
    name = b"testing batch 1 of 1" if batch == 6 else b"training batch %d of 5" % batch
    return {
        b"batch_label": name,
        b"labels": [label(batch, r) for r in range(RECORDS)],
        b"data": data,
        b"filenames": [b"fixture_%d_%d.png" % (batch, r) for r in range(RECORDS)],
    }


class Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` (SHORT_BINSTRING / BINSTRING) and numpy globals under
    their Python 2 era module names, as cPickle did for the official files."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + len(obj).to_bytes(4, "little") + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def py2_pickle(obj):
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def add_member(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(payload))


def main():
    members = [(f"cifar-10-batches-py/data_batch_{b}", py2_pickle(batch_dict(b)))
               for b in range(1, 6)]
    members.append(("cifar-10-batches-py/test_batch", py2_pickle(batch_dict(6))))
    meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog",
                             b"frog", b"horse", b"ship", b"truck"],
            b"num_cases_per_batch": RECORDS, b"num_vis": IMAGE_LEN}
    members.append(("cifar-10-batches-py/batches.meta", py2_pickle(meta)))

    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, payload in members:
            add_member(tar, name, payload)
    with open("cifar-10-python.tar.gz", "wb") as out:
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
            gz.write(tar_bytes.getvalue())

    with open("py3_data_batch_1", "wb") as out:
        pickle.dump(batch_dict(1), out, protocol=2)


if __name__ == "__main__":
    main()

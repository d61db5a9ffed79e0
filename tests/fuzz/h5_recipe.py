"""Encodes HDF5 recipes for the fuzz harnesses (the format is described in
tests/fuzz/h5_recipe.h, whose name/value tables are read from there), so the
seed corpora can hold recipes of valid weights files and stores."""
import os
import re

_HEADER = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "h5_recipe.h")).read()


def _table(name):
    body = re.search(name + r"\[\] = \{(.*?)\};", _HEADER, re.S).group(1)
    return body


NAMES = re.findall(r'"([^"]*)"', _table("h5r_names"))
ATTRS = re.findall(r'"([^"]*)"', _table("h5r_attrs"))
STRINGS = re.findall(r'"([^"]*)"', _table("h5r_strings"))
INTS = [eval(v) for v in _table("h5r_ints").split(",")]  # C integer expressions like "-2147483647 - 1"
DIMS = [int(v) for v in re.findall(r"\d+", _table("h5r_dims"))]
TYPES = ["f32", "f64", "f16", "i32", "u8", "i64", "vstr", "fstr"]
FILLS = ["zeros", "index", "bytes", "nan", "mod3", "ones"]


class Recipe:
    def __init__(self):
        self.b = bytearray()

    def _path(self, path):
        parts = path.split("/")
        self.b += bytes([len(parts) - 1] + [NAMES.index(p) for p in parts])

    def _string(self, s):
        if s in STRINGS[1:]:
            self.b.append(STRINGS.index(s))
        else:
            raw = s.encode()
            assert len(raw) <= 12 and b"\0" not in raw
            self.b += bytes([0, len(raw)]) + raw

    def group(self, path):
        self.b.append(0)
        self._path(path)

    def dataset(self, path, type, dims, fill, values=()):
        """values: strings (fill 'bytes', string types) or numbers (fill 'bytes': multiples of 1/4 in -32..31.75)."""
        self.b.append(1)
        self._path(path)
        self.b += bytes([TYPES.index(type), len(dims)] + [DIMS.index(d) for d in dims] + [FILLS.index(fill)])
        for v in values:
            if isinstance(v, str):
                self._string(v)
            else:
                self.b.append(int(v * 4) & 0xFF)

    def attr(self, path, name, value):
        """value: int, str, or list of str."""
        self.b.append(2)
        self._path(path)
        self.b.append(ATTRS.index(name))
        if isinstance(value, int):
            self.b += bytes([1, INTS.index(value)])
        elif isinstance(value, list):
            self.b += bytes([2, len(value)])
            for s in value:
                self._string(s)
        else:
            self.b.append(0)
            self._string(value)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(bytes(self.b))

"""The gradfit file, mechanically: a ``.npz`` archive of 1-D ``.npy`` members
plus JSON metadata, written atomically and read with every size checked
before anything sized by the file is allocated.

This module knows archives, members and JSON fields; what a model or a
Trainer puts in them is gradfit._codec's business, and the public functions
are gradfit.io's. Nothing here ever unpickles or executes anything.
"""
from __future__ import annotations

import errno
import json
import math
import os
import secrets
import stat
import struct
import zipfile
import zlib
# The standard library's io classes, from _io (where io itself gets them): a
# plain `import io` here would read as gradfit.io to the import checker.
from _io import BufferedReader, BytesIO, FileIO
from typing import IO, Any

import numpy as np

from ._version import __version__

FORMAT = "gradfit"
FORMAT_VERSION = 1

# Bounds checked before anything is allocated.
MAX_METADATA_BYTES = 1 << 22        # 4 MiB of JSON (a trainer's is ~1 kB; MT19937's state ~7 kB)
MAX_MEMBERS = 64
_NPY_HEADER_LIMIT = 10_000          # numpy's own default bound on .npy headers


class FileDefect(Exception):
    """A defect of the file; the readers turn it into ValueError("<path>: ...")."""


# -- writing -------------------------------------------------------------------

def encode_float(x: float) -> float | str:
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def jsonable(value: Any) -> Any:
    """Plain JSON types from numpy scalars / arrays (a bit generator's state)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return encode_float(float(value))
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in a gradfit file")


def checked_target(path: Any, argument: str = "path") -> str:
    """`path` as a str, or TypeError naming `argument`."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{argument}: expected a str or os.PathLike, got {type(path).__name__}")
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected a str or os.PathLike of str, got {type(path).__name__}")
    return name


def _destination(path: Any, argument: str) -> tuple[str, str, os.stat_result | None]:
    """(the file to write, the name the user gave, the stat of an existing
    file there or None): a symlink is resolved (the file it points to is
    written, next to itself), and an existing target must be a regular file
    that may be written. Raises the errors np.save would, naming the user's path."""
    name = checked_target(path, argument)
    if not os.path.basename(name):
        raise IsADirectoryError(errno.EISDIR, "expected a file name, got a directory", name)
    target = os.path.realpath(name)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, name) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", name)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{argument}: {name!r} is not a regular file (a device, FIFO or socket); "
                             f"gradfit writes its files only over regular files")
        # a file nobody may write (mode 0444) is refused even where the process
        # could write it (as root): its owner made it read-only
        if not os.access(target, os.W_OK) or not st.st_mode & 0o222:
            raise PermissionError(errno.EACCES, "Permission denied (the file is read-only)", name)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "No such directory", name)
    # likewise a directory without write bits (0555), where the temporary file would go
    if not os.access(directory, os.W_OK | os.X_OK) or not os.stat(directory).st_mode & 0o222:
        raise PermissionError(errno.EACCES, f"Permission denied (cannot create files in {directory})", name)
    return target, name, st


def check_destination(path: Any, argument: str = "path") -> None:
    """Raises now what writing `path` would raise for its place (a missing or
    read-only directory, a read-only file, a directory, a non-str path):
    checked before a long run whose result goes there."""
    _destination(path, argument)


def write_atomic(path: str | os.PathLike[str], write: Any, argument: str = "path") -> None:
    """Calls write(fileobj) on a new temporary file next to `path`, flushes and
    fsyncs it, then renames it over `path` (atomic on POSIX and Windows): a
    reader sees the old file or the new one, never a partial one. The
    temporary file is removed if anything fails.

    - A symlink is resolved: the file it points to is replaced (the new file
      is written next to it), and the link stays.
    - An existing file's mode (0600 stays 0600) and, where the process may
      set them, owner and group go to the new file; a new file gets mode
      0o666 minus the umask, like any new file.
    - An existing file that may not be written (or whose mode has no write
      bit at all, e.g. 0444) is refused with PermissionError, as is a
      directory likewise (0555); a missing directory with FileNotFoundError:
      errors name `path`, not the temporary file.
    - A hard-linked file is replaced by a new file (the rename gives the name
      a new inode): the other names keep the old contents.
    """
    target, name, st = _destination(path, argument)
    directory = os.path.dirname(target)
    base = os.path.basename(target)
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, name) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if st is not None:
                _copy_owner_and_mode(f.fileno(), st)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.filename in (tmp, target) and exc.errno is not None:
            raise type(exc)(exc.errno, exc.strerror, name) from None
        raise
    if hasattr(os, "O_DIRECTORY"):      # make the rename itself durable (POSIX)
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)


def _copy_owner_and_mode(fd: int, st: os.stat_result) -> None:
    """The replaced file's owner, group and mode on the new file: owner and
    group only where the process may set them (root, or its own group)."""
    if hasattr(os, "fchown"):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except OSError:
            try:
                os.fchown(fd, -1, st.st_gid)
            except OSError:
                pass
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(st.st_mode))


def npz_writer(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """A function writing the archive (metadata as JSON, then the arrays) to a binary file."""
    text = json.dumps(metadata, allow_nan=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    members = {"metadata": np.frombuffer(text, dtype=np.uint8)}
    members.update(arrays)

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, array in members.items():
                array = np.ascontiguousarray(array)
                with zf.open(name + ".npy", "w", force_zip64=array.nbytes >= (1 << 31) - 4096) as out:
                    np.lib.format.write_array(out, array, allow_pickle=False)

    return write


def to_bytes(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """The archive's bytes, in memory."""
    buffer = BytesIO()
    npz_writer(metadata, arrays)(buffer)
    return buffer.getvalue()


def write_npz(path: str | os.PathLike[str], metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    write_atomic(path, npz_writer(metadata, arrays))


def header(kind: str, model_meta: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """The metadata every gradfit file starts with; `extra` is free JSON (an estimator's)."""
    meta: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind,
                            "gradfit_version": __version__, "model": model_meta}
    if extra is not None:
        if not isinstance(extra, dict):
            raise TypeError(f"extra: expected a dict of JSON values, got {type(extra).__name__}")
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra: expected JSON values (finite floats), got {exc}") from None
        meta["extra"] = extra
    return meta


# -- reading -------------------------------------------------------------------

class _BoundedReader(BufferedReader):
    """A file whose read(n) never asks for more than the bytes left: a plain
    file's read(n) allocates n bytes up front, and zipfile reads sizes that
    a damaged archive declares (e.g. its central directory's)."""

    def __init__(self, raw: FileIO, size: int) -> None:
        super().__init__(raw)
        self._size = size

    def read(self, n: int | None = -1) -> bytes:
        if n is not None and n > 0:
            n = min(n, max(0, self._size - self.tell()))
            if n == 0:
                return b""
        return super().read(n)


def open_regular(path: str) -> int:
    """A read-only descriptor of `path`, which must be a regular file: a
    device (/dev/zero, /dev/urandom) would be read without end, a FIFO would
    block. Checked before opening (a FIFO's open blocks) and again on the
    descriptor (the name may have changed in between)."""
    kind = _non_regular(os.stat(path).st_mode)
    if kind:
        raise FileDefect(f"not a regular file ({kind}); a gradfit file is a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        kind = _non_regular(os.fstat(fd).st_mode)
        if kind:
            raise FileDefect(f"not a regular file ({kind}); a gradfit file is a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _non_regular(mode: int) -> str:
    """What a file of this st_mode is, when it is not a regular file ("" when it is)."""
    if stat.S_ISREG(mode):
        return ""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a plain file"


class Archive:
    """The members of a gradfit archive, checked before any is read."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd = open_regular(path)
        self.size = os.fstat(fd).st_size
        self.file = _BoundedReader(FileIO(fd, "rb"), self.size)
        try:
            self.zip = zipfile.ZipFile(self.file)
            infos = self.zip.infolist()
            if len(infos) > MAX_MEMBERS:
                raise FileDefect(f"expected at most {MAX_MEMBERS} members, got {len(infos)}")
            self.members: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                name = info.filename
                if not name.endswith(".npy"):
                    raise FileDefect(f"expected only .npy members, got {name!r}")
                if name[:-4] in self.members:
                    raise FileDefect(f"member {name!r} appears twice")
                if info.flag_bits & 0x1:
                    raise FileDefect(f"member {name!r} is encrypted")
                if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                    raise FileDefect(f"member {name!r} is compressed; gradfit files store members uncompressed")
                if info.header_offset < 0 or info.header_offset + info.file_size > self.size:
                    raise FileDefect(f"member {name!r} claims {info.file_size} bytes, beyond the end of the "
                               f"{self.size}-byte file (truncated?)")
                self.members[name[:-4]] = info
        except BaseException:
            self.file.close()
            raise

    def close(self) -> None:
        self.zip.close()
        self.file.close()

    def names(self) -> set[str]:
        return set(self.members)

    def read(self, name: str, kinds: str, count: int | None = None, max_count: int | None = None,
             itemsizes: tuple[int, ...] = (1, 2, 4, 8)) -> np.ndarray:
        """Member `name` as a native-endian 1-D array, after checking its .npy
        header: dtype kind in `kinds`, 1-D, `count` elements (or at most
        `max_count`), and exactly that many bytes of data in the member."""
        info = self.members.get(name)
        if info is None:
            raise FileDefect(f"member {name!r} is missing")
        with self.zip.open(info) as fp:
            major, minor = np.lib.format.read_magic(fp)
            if (major, minor) == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=_NPY_HEADER_LIMIT)
            elif (major, minor) in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=_NPY_HEADER_LIMIT)
            else:
                raise FileDefect(f"member {name!r}: unsupported .npy version {major}.{minor}")
            if dtype.hasobject:
                raise FileDefect(f"member {name!r} is an object array (pickled Python objects); "
                           f"gradfit files hold numbers only and never unpickle")
            if dtype.kind not in kinds or dtype.itemsize not in itemsizes or dtype.fields is not None \
                    or dtype.subdtype is not None:
                raise FileDefect(f"member {name!r}: unexpected dtype {dtype.str}")
            if len(shape) != 1:
                raise FileDefect(f"member {name!r}: expected a 1-D array, got shape {shape}")
            n = int(shape[0])
            if n < 0:
                raise FileDefect(f"member {name!r}: invalid shape {shape}")
            if count is not None and n != count:
                raise FileDefect(f"member {name!r}: expected {count} values (from the metadata), got shape {shape}")
            if max_count is not None and n > max_count:
                raise FileDefect(f"member {name!r}: expected at most {max_count} values, got shape {shape}")
            nbytes = n * dtype.itemsize
            if fp.tell() + nbytes != info.file_size:
                raise FileDefect(f"member {name!r}: its header declares shape {shape} ({nbytes} bytes of "
                           f"{dtype.name}), but the member holds {info.file_size - fp.tell()} bytes of data")
            data = fp.read(nbytes)
            if len(data) != nbytes:
                raise FileDefect(f"member {name!r} is truncated")
            fp.read()                      # to the end: zipfile checks the CRC there
        return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=True)


def _fail(path: str, message: str) -> ValueError:
    return ValueError(f"{path}: {message}")


def get(d: Any, key: str, types: Any, where: str, *, optional: bool = False) -> Any:
    if not isinstance(d, dict):
        raise FileDefect(f"metadata: expected an object at {where}, got {type(d).__name__}")
    if key not in d:
        if optional:
            return None
        raise FileDefect(f"metadata: {where}.{key} is missing")
    value = d[key]
    if optional and value is None:
        return None
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in _as_tuple(types))
    if not ok:
        names = " or ".join(t.__name__ for t in _as_tuple(types))
        raise FileDefect(f"metadata: expected {where}.{key} to be {names}, got {type(value).__name__} {short(value)}")
    return value


def _as_tuple(types: Any) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def get_float(d: Any, key: str, where: str, optional: bool = False) -> float | None:
    """A float, or one of "inf", "-inf", "nan"."""
    value = get(d, key, (int, float, str), where, optional=optional)
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("inf", "-inf", "nan"):
            raise FileDefect(f"metadata: expected {where}.{key} to be a number, got {short(value)}")
        return float(value)
    return float(value)


def get_int(d: Any, key: str, where: str, lo: int, hi: int, optional: bool = False) -> int | None:
    value = get(d, key, int, where, optional=optional)
    if value is None:
        return None
    if not lo <= value <= hi:
        raise FileDefect(f"metadata: expected {where}.{key} in [{lo}, {hi}], got {short(value)}")
    return int(value)


def _no_constants(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def read_header(archive: Archive) -> dict[str, Any]:
    raw = archive.read("metadata", "u", max_count=MAX_METADATA_BYTES, itemsizes=(1,))
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FileDefect(f"metadata: not valid UTF-8 JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise FileDefect(f"metadata: expected a JSON object, got {type(meta).__name__}")
    fmt = get(meta, "format", str, "metadata")
    if fmt != FORMAT:
        raise FileDefect(f"metadata: expected format {FORMAT!r}, got {short(fmt)} (not a gradfit file)")
    version = get(meta, "format_version", int, "metadata")
    if version != FORMAT_VERSION:
        newer = " (written by a newer gradfit: upgrade gradfit to read it)" if version > FORMAT_VERSION else ""
        raise FileDefect(f"format version {version} is not supported; this gradfit reads version {FORMAT_VERSION}{newer}")
    kind = get(meta, "kind", str, "metadata")
    if kind not in ("model", "trainer"):
        raise FileDefect(f"metadata: expected kind 'model' or 'trainer', got {short(kind)}")
    get(meta, "gradfit_version", str, "metadata")
    get(meta, "extra", dict, "metadata", optional=True)
    return meta


def checked_path(path: Any) -> str:
    name = checked_target(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"path: no such file {name!r}")
    return name


# Everything a damaged archive can make zipfile, numpy's header parser or
# json raise; load turns them into ValueError("<path>: ...").
_READ_ERRORS = (FileDefect, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, struct.error, zlib.error,
                NotImplementedError, UnicodeError, KeyError, IndexError, OverflowError, SyntaxError,
                TypeError, ValueError, RecursionError, RuntimeError)


def guarded(path: str | os.PathLike[str], body: Any) -> Any:
    name = checked_path(path)
    archive = None
    try:
        archive = Archive(name)
        return body(name, archive)
    except (FileNotFoundError, PermissionError):
        raise
    except _READ_ERRORS as exc:
        detail = str(exc) if isinstance(exc, FileDefect) else f"not a valid gradfit file ({type(exc).__name__}: {exc})"
        raise _fail(str(name), detail) from None
    except OSError as exc:
        raise _fail(str(name), f"could not be read ({exc})") from None
    finally:
        if archive is not None:
            archive.close()



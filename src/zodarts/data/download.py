"""Download a MedMNIST file: stream to a temporary file beside the target, verify its md5, then
rename. The final name only ever holds a complete, verified file — a killed or failed download
leaves at most a ``.part`` file that the next attempt ignores."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from zodarts.data.registry import default_root, get_info
from zodarts.data.validate import md5_of
from zodarts.errors import DataError

CHUNK = 1 << 20
TIMEOUT_S = 60


def fetch(name: str, root: str | os.PathLike | None = None, url: str | None = None,
          size: int = 28, progress: bool = True, force: bool = False) -> Path:
    """Download ``name`` (at ``size``) into ``root`` and return the file's path.

    ``url`` replaces the official address (a mirror of the *same* file: it is checked against
    the registry's md5 all the same). An existing official file is kept as is; an existing
    file with another md5 (a subset, a re-save) is only replaced with ``force``.
    """
    info = get_info(name)
    if not info.is_medmnist:
        raise DataError(f"{info.name} is bundled with scikit-learn; there is nothing to fetch")
    expected = info.md5_for(size)
    if expected is None:
        raise DataError(f"{info.name} comes in sizes {', '.join(map(str, info.sizes()))}, "
                        f"not {size}")
    root = Path(root).expanduser() if root is not None else default_root()
    target = root / info.filename(size)
    if target.exists() and not force:
        actual = md5_of(target)
        if actual == expected:
            return target
        raise DataError(f"{target} already exists but is not the official file (md5 {actual}, "
                        f"official {expected}); keep it, or pass --force to replace it")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create {root}: {err.strerror}; choose another --root") from None

    source = url or info.url_for(size) or ""
    _download(source, target, expected, progress)
    return target


def _download(url: str, target: Path, expected_md5: str, progress: bool) -> None:
    """Stream ``url`` to a temporary file beside ``target``, check its md5, then rename it to
    ``target``. On any failure the temporary file is deleted and ``target`` is left untouched."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _stream(url, out, target.name, progress)
            out.flush()
            os.fsync(out.fileno())
        if actual != expected_md5:
            raise DataError(f"downloaded {url} but its md5 is {actual}, expected {expected_md5}; "
                            f"the download was deleted and nothing was written to {target}. Try "
                            "again, or check that --url points at the official file")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _stream(url: str, out, label: str, progress: bool) -> str:
    """Copy ``url`` into ``out`` with a progress bar; return the md5 of what was received."""
    digest = hashlib.md5()
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except (urllib.error.URLError, http.client.HTTPException, ValueError, OSError) as err:
        if isinstance(err, urllib.error.HTTPError):
            reason = f"HTTP {err.code} {err.reason}"
        else:
            reason = str(getattr(err, "reason", None) or err)
        raise DataError(f"could not download {url}: {reason}. Check the network, pass --url with "
                        "a reachable mirror, or copy the file into place by hand") from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                  disable=not progress, leave=False) as bar:
            while True:
                try:
                    block = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as err:
                    raise DataError(f"download of {url} broke off after {received} bytes "
                                    f"({err}); run the command again") from None
                if not block:
                    break
                out.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        raise DataError(f"download of {url} ended after {received} of {total} bytes; run the "
                        "command again")
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

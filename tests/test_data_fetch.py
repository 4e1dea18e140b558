"""Downloads: streamed to a temporary file, md5-verified against the registry, then renamed; a
bad download leaves nothing behind. Served from a local HTTP server (no network needed)."""

import dataclasses
import functools
import http.server
import threading

import pytest
from conftest import make_npz

from zodarts.data import REGISTRY, fetch, md5_of
from zodarts.errors import DataError


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class ShortBodyHandler(http.server.BaseHTTPRequestHandler):
    """Promises more bytes than it sends: a connection that breaks off mid-download."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"x" * 100)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server


@pytest.fixture
def served(tmp_path):
    """A synthetic breastmnist.npz behind http://127.0.0.1:PORT/breastmnist.npz."""
    source = make_npz(tmp_path / "www" / "breastmnist.npz", sizes=(10, 4, 4))
    server = serve(functools.partial(QuietHandler, directory=str(source.parent)))
    yield source, f"http://127.0.0.1:{server.server_address[1]}/breastmnist.npz"
    server.shutdown()
    server.server_close()


def with_md5(monkeypatch, md5: str) -> None:
    monkeypatch.setitem(REGISTRY, "breastmnist",
                        dataclasses.replace(REGISTRY["breastmnist"], md5=md5))


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_http_download(served, tmp_path, monkeypatch):
    source, url = served
    with_md5(monkeypatch, md5_of(source))
    dest = tmp_path / "data"
    path = fetch("breastmnist", root=dest, url=url, progress=False)
    assert path == dest / "breastmnist.npz"
    assert path.read_bytes() == source.read_bytes()
    assert leftovers(dest) == ["breastmnist.npz"]  # no temporary file left behind
    # A second fetch finds the official file and does not download again.
    source.unlink()
    assert fetch("breastmnist", root=dest, url=url, progress=False) == path


def test_md5_failure_leaves_nothing(served, tmp_path):
    source, url = served
    dest = tmp_path / "data"
    with pytest.raises(DataError) as err:
        fetch("breastmnist", root=dest, url=url, progress=False)
    message = str(err.value)
    assert REGISTRY["breastmnist"].md5 in message and md5_of(source) in message
    assert url in message
    assert leftovers(dest) == []


def test_file_url(tmp_path, monkeypatch):
    source = make_npz(tmp_path / "mirror" / "breastmnist_64.npz", image_size=64)
    monkeypatch.setitem(REGISTRY, "breastmnist", dataclasses.replace(
        REGISTRY["breastmnist"], md5_by_size={64: md5_of(source)}))
    path = fetch("breastmnist", root=tmp_path / "d", url=source.as_uri(), size=64, progress=False)
    assert path.name == "breastmnist_64.npz" and md5_of(path) == md5_of(source)


def test_default_root_is_medmnist_root(served, tmp_path, monkeypatch):
    source, url = served
    with_md5(monkeypatch, md5_of(source))
    monkeypatch.setenv("MEDMNIST_ROOT", str(tmp_path / "env"))
    assert fetch("breastmnist", url=url, progress=False) == tmp_path / "env" / "breastmnist.npz"


def test_unreachable_url(tmp_path):
    url = "http://127.0.0.1:9/breastmnist.npz"  # discard port: nothing listens
    with pytest.raises(DataError) as err:
        fetch("breastmnist", root=tmp_path, url=url, progress=False)
    assert url in str(err.value)
    assert leftovers(tmp_path) == []


def test_missing_file_url(tmp_path):
    url = (tmp_path / "nope.npz").as_uri()
    with pytest.raises(DataError, match="could not download"):
        fetch("breastmnist", root=tmp_path / "d", url=url, progress=False)
    assert leftovers(tmp_path / "d") == []


def test_http_404(served, tmp_path):
    _, url = served
    with pytest.raises(DataError, match="404"):
        fetch("breastmnist", root=tmp_path / "d", url=url.replace("breast", "blood"),
              progress=False)


def test_broken_off_download(tmp_path):
    server = serve(ShortBodyHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}/breastmnist.npz"
    try:
        with pytest.raises(DataError, match="100"):
            fetch("breastmnist", root=tmp_path / "d", url=url, progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert leftovers(tmp_path / "d") == []


def test_existing_modified_file_kept_unless_forced(served, tmp_path, monkeypatch):
    source, url = served
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "breastmnist.npz").write_bytes(b"a user's subset")
    with pytest.raises(DataError, match="--force"):
        fetch("breastmnist", root=dest, url=url, progress=False)
    assert (dest / "breastmnist.npz").read_bytes() == b"a user's subset"
    with_md5(monkeypatch, md5_of(source))
    fetch("breastmnist", root=dest, url=url, progress=False, force=True)
    assert md5_of(dest / "breastmnist.npz") == md5_of(source)


def test_nothing_to_fetch_for_digits_or_unknown(tmp_path):
    with pytest.raises(DataError, match="scikit-learn"):
        fetch("digits", root=tmp_path)
    with pytest.raises(DataError, match="known datasets"):
        fetch("cifar10", root=tmp_path)
    with pytest.raises(DataError, match="sizes"):
        fetch("breastmnist", root=tmp_path, size=32)


def test_load_dataset_download(tmp_path, monkeypatch, isolated_roots):
    from zodarts.data import load_dataset

    source = make_npz(tmp_path / "mirror" / "breastmnist.npz", sizes=(546, 78, 156))
    info = dataclasses.replace(REGISTRY["breastmnist"], md5=md5_of(source),
                               url=source.as_uri())
    monkeypatch.setattr(type(info), "url_for", lambda self, size=28: self.url)
    monkeypatch.setitem(REGISTRY, "breastmnist", info)
    with pytest.raises(DataError, match="zodarts fetch breastmnist"):
        load_dataset("breastmnist", data_root=tmp_path / "d")
    ds = load_dataset("breastmnist", data_root=tmp_path / "d", download=True)
    assert ds.md5_status == "official" and (tmp_path / "d" / "breastmnist.npz").is_file()

"""emoclassic serve: a real uvicorn server on 127.0.0.1 (a free port, a background thread)
answered through urllib. Predictions are the Recognizer's (so the command line's JSON
objects), errors are one-line JSON with a 4xx status, the size limit holds while reading, and
several requests at once all succeed.

Three tiny models are fitted once for the module on the session's demo corpus: audio only
(pooled compact preset), audio + TF-IDF text, and TF-IDF text only.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from emoclassic import Recognizer  # noqa: E402
from emoclassic.artifacts import save_model  # noqa: E402
from emoclassic.cli import app as cli_app  # noqa: E402
from emoclassic.evaluation import fit_final  # noqa: E402
from emoclassic.serve import bind, create_app  # noqa: E402

CV = {"scheme": "group", "n_splits": 2}
AUDIO = {"type": "pooled", "preset": "compact"}
WORDS = {"type": "tfidf"}
SPECS = {
    "audio": {"name": "srv_audio", "features": {"audio": AUDIO},
              "classifier": {"name": "logreg"}, "cv": CV},
    "fused": {"name": "srv_fused", "features": {"audio": AUDIO, "words": WORDS},
              "classifier": {"name": "logreg"}, "cv": CV},
    "text": {"name": "srv_text", "features": {"words": WORDS},
             "classifier": {"name": "logreg"}, "cv": CV},
}
SMALL_LIMIT = 40_000


class Server:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread, until :meth:`close`."""

    def __init__(self, app) -> None:
        import uvicorn

        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def request(url: str, data=None, headers=None, method: str | None = None
            ) -> tuple[int, dict, str]:  # fmt: skip
    """``(status, headers, body text)`` of one HTTP request (errors too)."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode("utf-8")


def multipart(fields: dict) -> tuple[bytes, dict]:
    """A multipart/form-data body: ``{name: str}`` text fields, ``{name: (filename, bytes)}``
    files."""
    boundary = uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data = value
            head = (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n")
        else:
            head, data = f'Content-Disposition: form-data; name="{name}"\r\n', value.encode()
        out += [f"--{boundary}\r\n{head}\r\n".encode(), data, b"\r\n"]
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def post_form(url: str, fields: dict, query: str = "") -> tuple[int, dict]:
    body, headers = multipart(fields)
    status, _, text = request(f"{url}/predict{query}", body, headers)
    return status, json.loads(text)


def post_json(url: str, doc) -> tuple[int, dict]:
    status, _, text = request(f"{url}/predict", json.dumps(doc).encode(),
                              {"Content-Type": "application/json"})
    return status, json.loads(text)


def as_upload(expected: dict, name: str) -> dict:
    """A file's prediction as the server names an upload: id = the file name, no path."""
    return {**expected, "id": name, "path": None}


def assert_one_line_error(status: int, doc_or_text, code: int | tuple, *words: str) -> str:
    codes = code if isinstance(code, tuple) else (code,)
    assert status in codes, (status, doc_or_text)
    doc = json.loads(doc_or_text) if isinstance(doc_or_text, str) else doc_or_text
    assert list(doc) == ["error"]
    msg = doc["error"]
    assert "\n" not in msg and "Traceback" not in msg and msg.strip()
    for w in words:
        assert w in msg, msg
    return msg


@pytest.fixture(scope="module")
def env(demo_corpus, tmp_path_factory):
    folder, manifest = demo_corpus
    root = tmp_path_factory.mktemp("serve")
    models, recs, servers = {}, {}, {}
    for name, spec in SPECS.items():
        est = fit_final(spec, manifest, cache=root / "cache")
        models[name] = root / f"{name}.joblib"
        save_model(est, models[name], train_manifest=manifest)
        recs[name] = Recognizer.load(models[name])
        servers[name] = Server(create_app(recs[name]))
    servers["small"] = Server(create_app(recs["audio"], max_bytes=SMALL_LIMIT))
    clips = manifest["path"].tolist()
    ys = [sf.read(p, dtype="float32") for p in clips[:3]]
    long = root / "long.wav"  # about 4.5 s: three demo clips end to end
    sf.write(long, np.concatenate([y for y, _ in ys]), ys[0][1])
    yield SimpleNamespace(root=root, manifest=manifest, models=models, rec=recs,
                          url={k: s.url for k, s in servers.items()}, clips=clips,
                          clip=Path(clips[0]), text=manifest["text"].iloc[0], long=long)
    for s in servers.values():
        s.close()


# --------------------------------------------------------------------------- predictions
def test_predict_an_upload_equals_predict_file(env):
    expected = env.rec["audio"].predict_file(env.clip).to_dict()
    status, doc = post_form(env.url["audio"], {"audio": ("clip.wav", env.clip.read_bytes())})
    assert status == 200, doc
    assert doc == as_upload(expected, "clip.wav")
    # the clip itself as the body (curl --data-binary @clip.wav -H 'Content-Type: audio/wav')
    status, _, text = request(f"{env.url['audio']}/predict", env.clip.read_bytes(),
                              {"Content-Type": "audio/wav"})
    assert status == 200 and json.loads(text) == as_upload(expected, "upload")


def test_stereo_flac_upload_predicts_as_its_file(env, tmp_path):
    y, sr = sf.read(env.clip, dtype="float32")
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([y, 0.5 * y], axis=1), sr)
    expected = env.rec["audio"].predict_file(path).to_dict()
    status, doc = post_form(env.url["audio"], {"audio": ("a/b/stereo.flac", path.read_bytes())})
    assert status == 200 and doc["id"] == "stereo.flac"  # no folders from the client's name
    assert doc["label"] == expected["label"]
    assert doc["probabilities"] == pytest.approx(expected["probabilities"], abs=2e-6)


def test_fused_model_reads_the_text_field(env):
    expected = env.rec["fused"].predict_file(env.clip, env.text).to_dict()
    status, doc = post_form(env.url["fused"],
                            {"audio": ("clip.wav", env.clip.read_bytes()), "text": env.text})
    assert status == 200 and doc == as_upload(expected, "clip.wav")
    status, doc = post_form(env.url["fused"], {"audio": ("clip.wav", env.clip.read_bytes())})
    assert_one_line_error(status, doc, 400, "reads transcripts", "'text'")
    status, doc = post_json(env.url["fused"], {"text": env.text})
    assert_one_line_error(status, doc, 400, "reads audio", "JSON carries no audio", "-F audio=@")


def test_text_model_takes_json_and_forms(env):
    expected = env.rec["text"].predict_text(env.text).to_dict()
    status, doc = post_json(env.url["text"], {"text": env.text})
    assert status == 200 and doc == expected
    status, doc = post_form(env.url["text"], {"text": env.text})
    assert status == 200 and doc == expected
    body = urllib.parse.urlencode({"text": env.text}).encode()  # curl -d text=...
    status, _, text = request(f"{env.url['text']}/predict", body)
    assert status == 200 and json.loads(text) == expected
    status, doc = post_json(env.url["text"], {"text": "  "})
    assert_one_line_error(status, doc, 400, "reads transcripts")
    status, doc = post_form(env.url["text"], {"audio": ("clip.wav", env.clip.read_bytes()),
                                              "text": env.text})
    assert_one_line_error(status, doc, 400, "only text")
    status, doc = post_form(env.url["text"], {"audio": ("clip.wav", env.clip.read_bytes())})
    assert_one_line_error(status, doc, 400, "only text")


def test_window_options_from_query_or_form(env):
    expected = env.rec["audio"].predict_file(env.long, window=1.0, hop=0.5).to_dict()
    data = ("long.wav", env.long.read_bytes())
    status, doc = post_form(env.url["audio"], {"audio": data}, "?window=1&hop=0.5")
    assert status == 200 and doc == as_upload(expected, "long.wav") and doc["windows"]
    status, doc = post_form(env.url["audio"], {"audio": data, "window": "1", "hop": "0.5"})
    assert status == 200 and doc == as_upload(expected, "long.wav")
    for fields, query, code, words in (
        ({"window": "abc"}, "", 400, ["window='abc'", "seconds"]),
        ({"window": "1", "hop": "2"}, "", 400, ["hop=2"]),
        ({"hop": "0.5"}, "", 400, ["window"]),
        ({"window": "1"}, "?window=1", 400, ["given twice"]),
        ({"smooth": "1.5"}, "?window=1", 400, ["smooth='1.5'"]),
        ({}, "?windw=1", 400, ["windw"]),
    ):
        status, doc = post_form(env.url["audio"], {"audio": data, **fields}, query)
        assert_one_line_error(status, doc, code, *words)


# --------------------------------------------------------------------------- errors
def test_bad_requests_are_one_line_json_4xx(env, tmp_path):
    url = env.url["audio"]
    status, doc = post_form(url, {"audio": ("notes.txt", b"this is not audio at all " * 20)})
    assert_one_line_error(status, doc, 415, "notes.txt", "soundfile", "WAV")
    assert "BytesIO" not in doc["error"]
    status, doc = post_form(url, {"audio": ("empty.wav", b"")})
    assert_one_line_error(status, doc, 400, "empty")
    status, doc = post_form(url, {"file": ("clip.wav", env.clip.read_bytes())})
    assert_one_line_error(status, doc, 400, "file", "field 'audio'")
    status, doc = post_form(url, {"audio": ("a.wav", b"x"), "audio2": ("b.wav", b"y")})
    assert_one_line_error(status, doc, 400, "audio2")
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2] * 1000, dtype=np.float32), 16000,
             subtype="FLOAT")
    status, doc = post_form(url, {"audio": ("nan.wav", nan.read_bytes())})
    assert_one_line_error(status, doc, 422, "nan.wav", "NaN")
    for data, headers, code, words in (
        (b"hello", {"Content-Type": "text/plain"}, 415, ["text/plain", "multipart"]),
        (b"{not json", {"Content-Type": "application/json"}, 400, ["JSON"]),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, ["object"]),
        (b"--x\r\nbroken", {"Content-Type": "multipart/form-data"}, 400, ["boundary"]),
    ):
        status, _, text = request(f"{url}/predict", data, headers)
        assert_one_line_error(status, text, code, *words)


def test_unknown_routes_and_methods_are_json(env):
    url = env.url["audio"]
    status, headers, text = request(f"{url}/nope")
    assert_one_line_error(status, text, 404, "/nope", "POST /predict")
    assert headers["content-type"].startswith("application/json")
    status, headers, text = request(f"{url}/predict")
    assert_one_line_error(status, text, 405, "GET", "POST")
    status, _, text = request(f"{url}/health", b"{}", {"Content-Type": "application/json"})
    assert_one_line_error(status, text, 405, "POST")


def test_oversize_requests_get_413_while_reading(env):
    url = env.url["small"]
    big = b"\0" * (3 * SMALL_LIMIT)
    status, _, text = request(f"{url}/predict", big, {"Content-Type": "audio/wav"})
    assert_one_line_error(status, text, 413, str(SMALL_LIMIT), "--max-bytes")

    def chunks():  # no Content-Length: urllib sends it chunked; counted while it arrives
        for _ in range(12):
            yield b"\0" * (SMALL_LIMIT // 4)

    status, _, text = request(f"{url}/predict", chunks(), {"Content-Type": "audio/wav"})
    assert_one_line_error(status, text, 413, "larger than")
    body, headers = multipart({"audio": ("clip.wav", env.clip.read_bytes()[:30_000])})
    status, _, text = request(f"{url}/predict", body, headers)  # under the limit: read
    assert status != 413
    # far larger than announced: refused before a byte of the body is read (none is sent)
    conn = http.client.HTTPConnection(*url.removeprefix("http://").split(":"), timeout=20)
    try:
        conn.putrequest("POST", "/predict")
        conn.putheader("Content-Type", "audio/wav")
        conn.putheader("Content-Length", str(500_000_000))
        conn.endheaders()
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    assert_one_line_error(response.status, text, 413, "500000000 bytes")


def test_unexpected_errors_are_500_one_liners_and_logged(env, caplog):
    rec = Recognizer(env.rec["audio"].estimator, env.rec["audio"].info)

    def boom(*args, **kwargs):
        raise RuntimeError("secret detail /home/someone/model")

    rec.predict_array = boom
    server = Server(create_app(rec))
    try:
        with caplog.at_level("ERROR", logger="emoclassic.serve"):
            status, doc = post_form(server.url, {"audio": ("clip.wav", env.clip.read_bytes())})
    finally:
        server.close()
    msg = assert_one_line_error(status, doc, 500, "RuntimeError")
    assert "secret" not in msg
    assert any("POST /predict failed" in r.getMessage() and r.exc_info for r in caplog.records)


# --------------------------------------------------------------------------- what the model is
def test_health_model_card_and_page(env):
    url = env.url["fused"]
    status, _, text = request(f"{url}/health")
    health = json.loads(text)
    assert status == 200 and health["status"] == "ok" and health["model"] == "fused"
    assert health["labels"] == env.rec["fused"].labels
    assert health["modalities"] == ["audio", "text"]
    assert health["max_bytes"] == 25 * 1024 * 1024
    status, _, text = request(f"{url}/model")
    card = json.loads(text)
    info = json.loads(CliRunner().invoke(cli_app, ["info", str(env.models["fused"]),
                                                   "--format", "json"]).stdout)
    assert card == {k: v for k, v in info.items()
                    if k not in ("model_path", "card_path", "manifest_path")}
    assert card["sha256_ok"] is True and card["model_file"] == "fused.joblib"
    assert str(env.root) not in text  # no local paths
    status, headers, html = request(f"{url}/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert 'id="file"' in html and "MediaRecorder" in html and 'fetch("predict"' in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    assert "default-src 'none'" in headers["content-security-policy"]


# --------------------------------------------------------------------------- concurrency
def test_concurrent_requests_all_succeed(env):
    clips = [Path(p) for p in env.clips[:6]]
    expected = {p.name: env.rec["audio"].predict_file(p).to_dict() for p in clips}

    def one(p: Path):
        return post_form(env.url["audio"], {"audio": (p.name, p.read_bytes())})

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, clips * 2))
    for (status, doc), p in zip(results, clips * 2, strict=True):
        assert status == 200 and doc == as_upload(expected[p.name], p.name)


def test_worker_threads_hold_blas_to_one_thread():
    """The server predicts in worker threads after the main thread warmed the model up; the
    one-thread BLAS limit must hold there too (threadpoolctl lets one thread at a time set
    OpenBLAS's pool)."""
    from threadpoolctl import threadpool_info

    from emoclassic.recognizer import _one_thread

    def blas() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas()
    if not before or max(before) == 1:
        pytest.skip("BLAS runs on one thread here anyway")
    with _one_thread():  # the main thread sets and restores the limit first (a warm-up)
        assert max(blas()) == 1
    seen = []

    def worker():
        with _one_thread():
            seen.append(blas())

    th = threading.Thread(target=worker)
    th.start()
    th.join()
    assert seen and max(seen[0]) == 1
    assert blas() == before


# --------------------------------------------------------------------------- the command
def _cli(*args):
    result = CliRunner().invoke(cli_app, [str(a) for a in args])
    return result.exit_code, result.stderr


def test_cli_refuses_a_taken_port_and_a_missing_extra(env, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        code, err = _cli("serve", "--model", env.models["audio"], "--port",
                         taken.getsockname()[1])
    finally:
        taken.close()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "cannot listen" in lines[0] and "--port" in lines[0]
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    code, err = _cli("serve", "--model", env.models["audio"])
    assert code == 2 and "pip install 'emoclassic[serve]'" in err and "uvicorn" in err


def test_cli_serves_until_interrupted(env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "emoclassic.cli", "serve", "--model", str(env.models["audio"]),
         "--port", "0"], stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url, lines = None, []
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("serving "):
                url = line.split(" on ", 1)[1].split()[0].rstrip("/")
        assert url and url.startswith("http://127.0.0.1:"), lines
        status, _, text = request(f"{url}/health")
        assert status == 200 and json.loads(text)["model"] == "audio"
        status, doc = post_form(url, {"audio": ("clip.wav", env.clip.read_bytes())})
        assert status == 200 and doc["label"] in env.rec["audio"].labels
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest = proc.communicate(timeout=20)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, rest
    assert "WARNING" not in "".join(lines) + rest  # no per-request OOD warnings

"""Check the page of ``emoclassic serve`` in headless Chromium and save a screenshot.

Why: the page at ``/`` is what a person uses to try a model; a layout that breaks, bars that
do not draw, a recording that cannot be encoded or a result that never shows only appear in
a browser. This script starts the real command on 127.0.0.1 (a free port), drives Chromium
through the DevTools protocol over a pipe (no extra package), and fails when the page does
not behave:

1. the model's description loads from ``/health``;
2. (full run) a recording from Chromium's fake microphone goes through MediaRecorder, is
   encoded to WAV in the page and predicted;
3. a generated WAV is chosen with the file input (its transcript typed in for a model that
   reads text, windows asked for), Predict is clicked, and the result shows the label, one bar
   per class, the flags, the attention weights (for an attention model) and the windows;
4. a full-page screenshot is saved.

    # fit a small attention-fusion model on the demo corpus and shoot docs/images/serve_page.png
    .venv/bin/python benchmarks/tools/serve_page_check.py --out docs/images/serve_page.png

    # an existing model (--text for a model that reads transcripts; no --clip for text alone)
    .venv/bin/python benchmarks/tools/serve_page_check.py --model model.joblib --clip a.wav

    # a tiny audio-only model, the upload only, into a temporary folder
    .venv/bin/python benchmarks/tools/serve_page_check.py --smoke

Needs ``chromium`` on PATH (``apt-get install -y chromium``) or ``--chromium PATH``; under
``--smoke`` a missing Chromium skips the check (with a message) instead of failing.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402

logger = logging.getLogger("serve_page_check")


class CheckFailed(Exception):
    """The page did not do what it should (the message says what)."""


# --------------------------------------------------------------------------- DevTools over a pipe
class Chromium:
    """Headless Chromium driven through ``--remote-debugging-pipe``: JSON messages separated
    by NUL bytes, commands written to its fd 3, answers and events read from its fd 4."""

    def __init__(self, exe: str, profile: Path, *, width: int = 900, height: int = 1000):
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def child_fds() -> None:  # the pipes at fd 3 and 4 in the child (via fds >= 10,
            # so that neither lands on the other's target)
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(resp_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--remote-debugging-pipe", "--no-first-run", "--no-default-browser-check",
                "--force-device-scale-factor=1", f"--window-size={width},{height}",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                f"--user-data-dir={profile}", "about:blank"]  # fmt: skip
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=child_fds,
                                     pass_fds=(3, 4))
        os.close(cmd_r)
        os.close(resp_w)
        self._next = 0
        self._answers: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.events: queue.Queue = queue.Queue()
        self.console: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.session: str | None = None

    def _read(self) -> None:
        buf = b""
        with os.fdopen(self._resp_r, "rb", buffering=0) as f:
            while True:
                data = f.read(65536)
                if not data:
                    break
                buf += data
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    msg = json.loads(raw)
                    if "id" in msg:
                        with self._lock:
                            q = self._answers.get(msg["id"])
                        if q is not None:
                            q.put(msg)
                    else:
                        self._event(msg)

    def _event(self, msg: dict) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in
                            params.get("args", []))  # fmt: skip
            self.console.append(f"console.{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.console.append(f"exception: {d.get('exception', {}).get('description') or d}")
        self.events.put(msg)

    def send(self, method: str, params: dict | None = None, *, session: bool = True,
             timeout: float = 60) -> dict:  # fmt: skip
        with self._lock:
            self._next += 1
            mid = self._next
            self._answers[mid] = q = queue.Queue()
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        try:
            answer = q.get(timeout=timeout)
        except queue.Empty:
            raise CheckFailed(f"Chromium did not answer {method} within {timeout} s") from None
        finally:
            with self._lock:
                self._answers.pop(mid, None)
        if "error" in answer:
            raise CheckFailed(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "DOM"):
            self.send(f"{domain}.enable")
        self.send("Browser.grantPermissions", {"permissions": ["audioCapture"]},
                  session=False)
        self.send("Page.navigate", {"url": url})

    def js(self, expression: str, *, timeout: float = 60) -> Any:
        """The value of ``expression`` in the page (promises awaited)."""
        res = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                             "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise CheckFailed(f"{expression[:60]}: {d.get('exception', {}).get('description')}")
        return res.get("result", {}).get("value")

    def wait(self, expression: str, what: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise CheckFailed(f"timed out after {timeout} s waiting for {what}; browser console: "
                          f"{self.console[-5:]}")

    def set_file(self, selector: str, path: Path) -> None:
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise CheckFailed(f"no element {selector} in the page")
        self.send("DOM.setFileInputFiles", {"files": [str(path)], "nodeId": node})

    def screenshot(self, path: Path) -> Path:
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        bottom = self.js('document.querySelector("main").getBoundingClientRect().bottom + '
                         'window.scrollY')  # the content, not the empty window below it
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"],
                     "height": min(size["height"], bottom or size["height"]), "scale": 1}})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(CheckFailed, OSError):
            self.send("Browser.close", session=False, timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._cmd_w)


# --------------------------------------------------------------------------- model and server
def fit_model(folder: Path, *, smoke: bool) -> tuple[Path, Any]:
    """A small model on a generated demo corpus: audio-only logistic regression (smoke) or
    attention fusion of compact pooled statistics and TF-IDF (so the page shows attention)."""
    from emoclassic.artifacts import save_model
    from emoclassic.data import make_demo_corpus
    from emoclassic.evaluation import fit_final

    manifest = make_demo_corpus(folder / "corpus", n_speakers=4, n_per_class=2 if smoke else 6,
                                seed=0)
    audio = {"type": "pooled", "preset": "compact"}
    cv = {"scheme": "group", "n_splits": 2}
    if smoke:
        spec = {"name": "page-check-audio", "features": {"audio": audio},
                "classifier": {"name": "logreg"}, "cv": cv}
    else:
        spec = {"name": "page-check-attention", "fusion": "attention",
                "features": {"audio": audio, "words": {"type": "tfidf"}},
                "classifier": {"name": "attention", "projection_dim": 16, "hidden_size": 16,
                               "epochs": 80, "n_threads": 1}, "cv": cv}
    model = folder / f"{spec['name']}.joblib"
    save_model(fit_final(spec, manifest, cache=None), model, train_manifest=manifest)
    return model, manifest


def make_clip(manifest: Any, path: Path, n: int) -> tuple[Path, str]:
    """``n`` demo clips of the last speaker end to end, and the first one's transcript."""
    import numpy as np
    import soundfile as sf

    rows = manifest[manifest["speaker"] == sorted(manifest["speaker"].unique())[-1]]
    ys = [sf.read(p, dtype="float32") for p in rows["path"].iloc[:n]]
    sf.write(path, np.concatenate([y for y, _ in ys]), ys[0][1])
    return path, str(rows["text"].iloc[0])


class Served:
    """``emoclassic serve --model M --port 0`` as a child process; ``url`` once it listens."""

    def __init__(self, model: Path, log: Path):
        self.log = open(log, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emoclassic.cli", "serve", "--model", str(model),
             "--port", "0"], stdout=self.log, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.url = None
        deadline = time.monotonic() + 120
        lines = []
        while self.url is None:
            line = self.proc.stderr.readline()
            if not line or time.monotonic() > deadline:
                self.close()
                raise CheckFailed("emoclassic serve did not start: " + "".join(lines)[-800:])
            lines.append(line)
            if line.startswith("serving "):
                self.url = line.split(" on ", 1)[1].split()[0]
        self.log.write("".join(lines))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.log.write(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: the command shuts down gracefully, exit 0
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


# --------------------------------------------------------------------------- the checks
RESULT_STATE = """(() => {
  const shown = (id) => !document.getElementById(id).hidden;
  const count = (sel) => document.querySelectorAll(sel).length;
  return {
    result: shown("result"),
    error: shown("error") ? document.getElementById("error").textContent : null,
    label: document.getElementById("r-label").textContent,
    bars: document.querySelectorAll("#r-bars .track").length,
    flags: [...document.querySelectorAll("#r-flags .chip")].map((c) => c.textContent),
    attention: shown("r-attention-block") ? count("#r-attention .track") : 0,
    windows: shown("r-windows-block") ? count("#r-windows tr") : 0,
    status: document.getElementById("status").textContent,
    clip: document.getElementById("clip-line").textContent,
  };
})()"""


def predict_and_read(page: Chromium, what: str) -> dict:
    page.js('document.getElementById("result").hidden = true')
    page.wait('!document.getElementById("predict").disabled', "the Predict button to enable")
    page.js('document.getElementById("predict").click()')
    page.wait('!document.getElementById("result").hidden || '
              '!document.getElementById("error").hidden', f"the result of {what}", timeout=90)
    state = page.js(RESULT_STATE)
    if state["error"]:
        raise CheckFailed(f"{what}: the page shows an error: {state['error']}")
    return state


def check_page(url: str, clip: Path, text: str | None, png: Path, *, chromium: str,
               record: bool, window: float | None) -> dict:  # fmt: skip
    import tempfile

    with tempfile.TemporaryDirectory(prefix="emoclassic-chromium-") as profile:
        page = Chromium(chromium, Path(profile))
        try:
            page.open(url)
            page.wait('document.readyState === "complete" && '
                      '!document.getElementById("model-line").textContent.startsWith("loading")',
                      "the model's description from /health")
            health = page.js('fetch("health").then((r) => r.json())')
            line = page.js('document.getElementById("model-line").textContent')
            if "reads" not in line:
                raise CheckFailed(f"the model line says {line!r}")
            reads_text = "text" in health["modalities"]
            if reads_text:
                if not text:
                    raise CheckFailed("the model reads text: give --text")
                page.js(f'(() => {{ const t = document.getElementById("text"); '
                        f't.value = {json.dumps(text)}; '
                        f't.dispatchEvent(new Event("input")); }})()')
            out: dict[str, Any] = {"url": url, "health": health}
            reads_audio = "audio" in health["modalities"]
            if reads_audio and clip is None:
                raise CheckFailed("the model reads audio: give --clip")
            if not reads_audio:  # a text model: the audio controls are hidden, text alone
                if page.js('!document.getElementById("audio-block").hidden'):
                    raise CheckFailed("the audio controls show for a model that reads no audio")
                record, clip, window = False, None, None
            if record:  # Chromium's fake microphone: MediaRecorder, then WAV in the page
                page.js('document.getElementById("record").click()')
                page.wait('document.getElementById("record").textContent.includes("Stop")',
                          "the recording to start")
                time.sleep(1.5)
                page.js('document.getElementById("record").click()')
                page.wait('document.getElementById("clip-line").textContent.startsWith('
                          '"recording.wav")', "the recording encoded as WAV")
                out["recording"] = predict_and_read(page, "the recording")
            if clip is not None:
                page.set_file("#file", clip)
                page.wait(f'document.getElementById("clip-line").textContent.startsWith('
                          f'{json.dumps(clip.name)})', "the chosen file")
            if window:
                page.js(f'(() => {{ document.getElementById("options").open = true; '
                        f'document.getElementById("window").value = "{window}"; '
                        f'document.getElementById("hop").value = "{window / 2}"; }})()')
            state = predict_and_read(page, "the uploaded clip" if clip else "the text")
            out["upload"] = state
            if state["label"] not in health["labels"]:
                raise CheckFailed(f"label {state['label']!r} is not one of {health['labels']}")
            if state["bars"] != len(health["labels"]):
                raise CheckFailed(f"{state['bars']} probability bars for "
                                  f"{len(health['labels'])} classes")
            if not state["flags"]:
                raise CheckFailed("no flag chips shown")
            if window and not state["windows"]:
                raise CheckFailed("windows were asked for but none is shown")
            time.sleep(0.3)  # the bars' widths settle before the picture
            out["screenshot"] = str(page.screenshot(png))
            out["console"] = page.console
        finally:
            page.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="screenshot PNG (default: serve_page.png in "
                        "the work folder)")
    parser.add_argument("--model", type=Path, help="an existing model (default: fit one)")
    parser.add_argument("--clip", type=Path, help="the clip to upload (default: generated)")
    parser.add_argument("--text", help="its transcript (for a model that reads text)")
    parser.add_argument("--workdir", type=Path, help="keep the model, logs and clip here")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"))
    args = bench.parse_args(parser, argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    exe = shutil.which(args.chromium)
    if exe is None:
        msg = f"{args.chromium} not found (apt-get install -y chromium, or --chromium PATH)"
        if args.smoke:
            print(f"skipped: {msg}")
            return 0
        sys.exit(msg)
    with bench.workdir(args.workdir, prefix="emoclassic-page-") as work:
        t0 = time.perf_counter()
        text = args.text
        if args.model is None:
            model, manifest = fit_model(work, smoke=args.smoke)
            clip, default_text = make_clip(manifest, work / "clip.wav", 1 if args.smoke else 3)
            text = text or default_text
        else:
            model, clip = args.model, args.clip
        clip = args.clip or clip
        logger.info("model ready (%.1f s); starting the server", time.perf_counter() - t0)
        server = Served(model, work / "server.log")
        try:
            result = check_page(server.url, clip and clip.resolve(), text,
                                (args.out or work / "serve_page.png").resolve(),
                                chromium=exe, record=not args.smoke,
                                window=None if args.smoke else 1.5)
        except CheckFailed as exc:
            server.close()
            sys.exit(f"page check failed: {exc}\nserver log:\n"
                     + (work / "server.log").read_text()[-1500:])
        server.close()
        if server.proc.returncode != 0:
            sys.exit(f"the server exited with {server.proc.returncode} on SIGINT")
        result.pop("health", None)
        print(json.dumps(result, indent=2))
        print(f"page check passed in {time.perf_counter() - t0:.1f} s; "
              f"screenshot {result['screenshot']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render a CV report's HTML page in headless Chromium and save a full-page screenshot.

Why: the HTML report is what a person opens; tables that overflow, figures drawn too large or
too small and labels that overlap only show when a browser lays the page out. This script
makes that check repeatable (and produces docs/images/cv_report.png).

    # run the demo (demo-sized CV with ablation) into a fresh folder, then screenshot it
    .venv/bin/python benchmarks/tools/render_report.py --out docs/images/cv_report.png

    # screenshot an existing report folder (e.g. from `emoclassic demo --out /tmp/demo`);
    # --rewrite first re-renders its Markdown/HTML/PNGs from cv_report.json with this code
    .venv/bin/python benchmarks/tools/render_report.py --report /tmp/demo/cv --rewrite

    # a demo of 4 speakers x 4 classes x 2 clips, rewritten and shot into a temporary folder
    .venv/bin/python benchmarks/tools/render_report.py --smoke

Chromium takes a screenshot of its window only, so the page is rendered in a tall window and
the blank space below the content is cropped off. Needs ``chromium`` on PATH
(``apt-get install -y chromium``) or ``--chromium PATH``; under ``--smoke`` a missing Chromium
skips the screenshot (with a message) instead of failing.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402

logger = logging.getLogger("render_report")


def _demo_report(folder: Path, **size) -> Path:
    """Run the demo into ``folder`` and return its report folder (``folder / "cv"``)."""
    from emoclassic.demo import run_demo

    run_demo(folder, **size)
    return folder / "cv"


def screenshot(
    html_path: Path,
    png_path: Path,
    *,
    width: int = 1100,
    max_height: int = 12000,
    chromium: str = "chromium",
    max_kb: int = 480,
) -> Path:
    """Full-page PNG of ``html_path``: a ``width`` x ``max_height`` window, cropped below.

    Kept in full colour when the PNG stays under ``max_kb`` kB; otherwise quantised to a
    256-colour palette (a report is mostly flat colour, so it stays legible, but smooth colour
    bars show bands).
    """
    from PIL import Image, ImageChops

    exe = shutil.which(chromium) or chromium
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.png"
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--window-size={width},{max_height}",
               f"--user-data-dir={tmp}/profile", f"--screenshot={raw}",
               html_path.resolve().as_uri()]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if not raw.is_file():
            sys.exit(f"chromium wrote no screenshot (exit {done.returncode}): "
                     f"{done.stderr.strip()[-500:]}")  # fmt: skip
        img = Image.open(raw).convert("RGB")
        background = Image.new("RGB", img.size, img.getpixel((img.width - 1, img.height - 1)))
        box = ImageChops.difference(img, background).getbbox()
        if box is not None:
            bottom = min(img.height, box[3] + 32)
            if bottom >= img.height:
                logger.warning("the page is taller than %d px; the screenshot is cut", max_height)
            img = img.crop((0, 0, img.width, bottom))
        img.save(png_path, optimize=True)
        if png_path.stat().st_size > max_kb * 1024:
            img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(png_path,
                                                                           optimize=True)
    return png_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, help="existing report folder (cv_report.html)")
    parser.add_argument("--rewrite", action="store_true",
                        help="re-render the folder's reports from its cv_report.json first")
    parser.add_argument("--work", type=Path, help="demo output folder (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=Path("docs/images/cv_report.png"))
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--chromium", default="chromium")
    args = bench.parse_args(parser, argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    with bench.workdir(prefix="render_report_") as tmp:
        size = {}
        if args.smoke:  # a tiny demo, its report rewritten, the screenshot kept in tmp
            args.report, args.work, args.rewrite, args.out = None, None, True, tmp / "shot.png"
            size = {"n_speakers": 4, "n_per_class": 2}
            if shutil.which(args.chromium) is None:
                logger.warning("no %s on PATH: the screenshot is skipped", args.chromium)
                args.out = None
        folder = args.report or _demo_report(args.work or tmp / "demo", **size)
        if args.rewrite:
            from emoclassic.evaluation import write_reports

            write_reports(json.loads((folder / "cv_report.json").read_text()), folder)
        html = folder / "cv_report.html"
        if not html.is_file():
            sys.exit(f"{html} does not exist; give --report a folder written by write_reports")
        if args.out is None:
            return 0
        out = screenshot(html, args.out, width=args.width, chromium=args.chromium)
        logger.info("wrote %s (%d kB) from %s", out, out.stat().st_size // 1024, html)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

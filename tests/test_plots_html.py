"""`dvc plots show` draws every plot dvc.yaml declares with no network: the page template it is configured
to use (.dvc/config `plots.html_template` -> plots_template/index.html) carries vega inline, where DVC's
default template loads it from a CDN and leaves each interactive plot blank offline.

The page is drawn by headless Chromium with every host name unresolvable, so the test means the same
with or without a network. It runs in a copy of just what `dvc plots show` reads (dvc.yaml, params.yaml
for its ${...}, metrics/, .dvc/config and the template), so no pipeline run or DVC lock is needed.
"""
import html
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOT

# What dvc_render draws: vega plots from data files, <img> plots from images; any other file is skipped.
VEGA_EXTENSIONS = {".json", ".yaml", ".yml", ".csv", ".tsv"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".svg"}
REMOTE_SCRIPT = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)

# Put first in <head> of a copy of the page: records load and script errors, and whether each image loaded,
# as attributes that --dump-dom shows.
PROBE = """<script>
window.probeErrors = [];
function probeError(message) {
  probeErrors.push(String(message));
  document.documentElement.setAttribute("data-probe-errors", JSON.stringify(probeErrors));
}
addEventListener("error", e => probeError(e.message || "could not load " + (e.target.src || e.target.href)), true);
addEventListener("unhandledrejection", e => probeError("unhandled rejection: " + e.reason));
addEventListener("load", () => {
  for (const img of document.images) img.setAttribute("data-probe-loaded", img.complete && img.naturalWidth > 0);
});
</script>"""


def dom_id(name):
    """The id dvc_render gives a plot's <div> (Renderer.remove_special_chars)."""
    return name.translate({ord(c): "_" for c in r"!@#$%^&*()[]{};,<>?\/:.|`~=_+ "})


def declared_plots(project):
    """{div id: "vega" | "image"} for every plot in dvc.yaml: the top-level `plots:` and the stages' plot
    outputs; DVC draws a folder entry as one plot per file in it."""
    from dvc.dvcfile import load_file
    from dvc.repo import Repo

    plots = {}
    with Repo(str(project)) as repo:
        entries = list(load_file(repo, "dvc.yaml").plots)  # ${...} resolved from params.yaml, as DVC draws them
        entries += [o.def_path for s in repo.index.stages for o in s.outs if o.is_plot]  # stages' plot outputs
    for entry in entries:
        name = entry if isinstance(entry, str) else next(iter(entry))
        path = project / name
        if path.is_dir():
            names = [str(f.relative_to(project)) for f in sorted(path.rglob("*"))
                     if f.is_file() and f.suffix.lower() in VEGA_EXTENSIONS | IMAGE_EXTENSIONS]
        else:
            names = [name]  # a data or image file, or a plot id whose y: names its files
        for n in names:
            plots[dom_id(n)] = "image" if Path(n).suffix.lower() in IMAGE_EXTENSIONS else "vega"
    return plots


class Drawn(HTMLParser):
    """For each plot <div> (by id) in a rendered page: vega's drawing surfaces and the <img> tags in it."""

    def __init__(self, ids):
        super().__init__()
        self.ids = set(ids)
        self.stack = []  # the id (or None) of each open <div>
        self.marks = {}  # id -> sizes of its vega <canvas class="marks"> / <svg class="marks">
        self.images = {}  # id -> data-probe-loaded of each <img>
        self.divs = []  # plot ids in page order

    def plot(self):
        return next((i for i in reversed(self.stack) if i in self.ids), None)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div":
            self.stack.append(attrs.get("id"))
            if attrs.get("id") in self.ids:
                self.divs.append(attrs["id"])
        plot = self.plot()
        if plot is None:
            return
        if tag in ("canvas", "svg") and "marks" in (attrs.get("class") or "").split():
            self.marks.setdefault(plot, []).append((attrs.get("width"), attrs.get("height")))
        elif tag == "img":
            self.images.setdefault(plot, []).append(attrs.get("data-probe-loaded"))

    def handle_endtag(self, tag):
        if tag == "div" and self.stack:
            self.stack.pop()


def chromium():
    """Path of a Chromium (or Chrome); skip if there is none, but only outside CI, where it must be."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if name and (path := shutil.which(name)):
            return path
    reason = "no chromium on PATH to draw dvc_plots/index.html (apt-get install chromium; .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def project_copy(dest):
    """The files `dvc plots show` reads, at their places, in an empty git repo: no data/."""
    (dest / ".dvc").mkdir(parents=True)
    shutil.copy2(ROOT / ".dvc" / "config", dest / ".dvc" / "config")
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest / name)
    for name in ("metrics", "plots_template"):
        shutil.copytree(ROOT / name, dest / name)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)  # DVC's Python API wants a repo
    return dest


def test_template_is_built_from_its_sources():
    run = subprocess.run([sys.executable, str(ROOT / "plots_template" / "build.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_dvc_plots_show_draws_every_declared_plot_offline(tmp_path):
    browser = chromium()
    project = project_copy(tmp_path / "project")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "-o", str(out)], cwd=project,
                         capture_output=True, text=True, timeout=300)
    # dvc exits 0 even when a plot failed to load (it warns, or says "failed to load"), so its words count too
    said = run.stdout + run.stderr
    assert run.returncode == 0, said
    assert not re.search(r"WARNING|ERROR|failed to load", said), said
    page = (out / "index.html").read_text(encoding="utf8")
    assert not REMOTE_SCRIPT.search(page), "the page loads a script over the network"

    probe = out / "probe.html"  # beside index.html, so static/*.png resolve the same
    probe.write_text(page.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf8")
    draw = subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=10000",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert draw.returncode == 0 and "<body" in draw.stdout, draw.stderr[-3000:]
    dom = draw.stdout
    assert not REMOTE_SCRIPT.search(dom), "the drawn page added a script loaded over the network"
    errors = re.search(r'data-probe-errors="([^"]*)"', dom)
    assert errors is None, f"errors in the page: {errors and html.unescape(errors.group(1))}"

    declared = declared_plots(project)
    drawn = Drawn(declared)
    drawn.feed(dom)
    assert sorted(drawn.divs) == sorted(declared), "plot <div>s on the page differ from dvc.yaml's plots"
    blank = [i for i, kind in declared.items() if kind == "vega"
             and not any(w not in (None, "0") and h not in (None, "0") for w, h in drawn.marks.get(i, []))]
    assert not blank, f"vega plots not drawn: {blank}"
    unloaded = [i for i, kind in declared.items() if kind == "image"
                and not (drawn.images.get(i) and all(v == "true" for v in drawn.images[i]))]
    assert not unloaded, f"image plots without a loaded <img>: {unloaded}"
    drawn_count = sum(1 for i in declared if drawn.marks.get(i) or drawn.images.get(i))
    assert drawn_count == len(declared) == len(drawn.divs)

"""`dvc plots show` draws every plot dvc.yaml declares with no network: the page template it is configured
to use (.dvc/config `plots.html_template` -> plots_template/index.html) carries vega inline, where DVC's
default template loads it from a CDN and leaves each interactive plot blank offline.

The page is drawn by headless Chromium with every host name unresolvable, so the test means the same
with or without a network. It runs in a copy of just what `dvc plots show` reads (dvc.yaml, params.yaml
for its ${...}, metrics/, .dvc/config, the custom plot templates in .dvc/plots/ and the page template), so no
pipeline run or DVC lock is needed.

The four data-series plots of dvc.yaml's `plots:` use the custom templates .dvc/plots/log_scatter.json and
log_linear.json: their x (params, bytes, compression) spans orders of magnitude, so it is on a log scale, and
their y (accuracy) is zoomed to the data rather than drawn from 0, as in distill/plots.py's PNGs.
"""
import html
import json
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

# Put last in <head>, after vega-embed: wraps vegaEmbed to record, on each plot's <div>, the type and domain of
# the x and y scales vega drew it with (a layered spec shares them, as "x" and "y").
SCALE_PROBE = """<script>
(function () {
  const embed = window.vegaEmbed;
  window.vegaEmbed = function (el, spec, opts) {
    return embed(el, spec, opts).then(result => {
      const div = document.querySelector(el), scales = {};
      for (const axis of ["x", "y"]) {
        try { const s = result.view.scale(axis); scales[axis] = {type: s.type, domain: s.domain()}; }
        catch (e) { scales[axis] = null; }
      }
      div.setAttribute("data-probe-scales", JSON.stringify(scales));
      return result;
    });
  };
})();
</script>"""

# dvc.yaml's data-series plots drawn with a log x axis and an accuracy axis not from 0: {plot id: template}
LOG_PLOTS = {"frontier": "log_scatter", "accuracy_vs_bytes": "log_scatter",
             "accuracy_vs_params": "log_linear", "accuracy_vs_compression": "log_linear"}


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
    shutil.copytree(ROOT / ".dvc" / "plots", dest / ".dvc" / "plots")  # the custom plot templates
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest / name)
    for name in ("metrics", "plots_template"):
        shutil.copytree(ROOT / name, dest / name)
    live_tables(dest)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)  # DVC's Python API wants a repo
    return dest


def live_tables(dest):
    """dvclive's per-epoch tables that dvc.yaml plots, where this checkout has not run the pipeline (they
    sit in DVC's cache, not in git): a few epochs in dvclive's own layout, `step` and the metric per row."""
    for entry in declared_entries(dest):
        folder = dest / entry
        if entry.startswith("metrics/live/") and not folder.is_dir():
            folder.mkdir(parents=True)
            for metric, values in {"train/accuracy": (0.91, 0.96, 0.97), "eval/accuracy": (0.95, 0.97, 0.98),
                                   "train/loss": (0.4, 0.15, 0.1), "eval/loss": (0.2, 0.1, 0.08)}.items():
                rows = [f"step\t{metric.split('/')[1]}"] + [f"{step}\t{v}" for step, v in enumerate(values)]
                (folder / f"{metric}.tsv").parent.mkdir(parents=True, exist_ok=True)
                (folder / f"{metric}.tsv").write_text("\n".join(rows) + "\n")


def declared_entries(project):
    """The paths of dvc.yaml's top-level `plots:` entries (a plot id's are in its `y:`)."""
    import yaml

    entries = []
    for entry in yaml.safe_load((project / "dvc.yaml").read_text())["plots"]:
        name, spec = (entry, None) if isinstance(entry, str) else next(iter(entry.items()))
        entries += list(spec["y"]) if isinstance(spec, dict) and isinstance(spec.get("y"), dict) else [name]
    return entries


def test_template_is_built_from_its_sources():
    run = subprocess.run([sys.executable, str(ROOT / "plots_template" / "build.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    """`dvc plots show` on a copy of the project, and the page as headless Chromium drew it, once per module:
    (project, what dvc said, its return code, index.html, the drawn DOM, chromium's return code and stderr)."""
    browser = chromium()
    tmp_path = tmp_path_factory.mktemp("plots_html")
    project = project_copy(tmp_path / "project")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "-o", str(out)], cwd=project,
                         capture_output=True, text=True, timeout=300)
    said = run.stdout + run.stderr
    if run.returncode != 0:
        return project, said, run.returncode, None, None, None, None
    page = (out / "index.html").read_text(encoding="utf8")
    probe = out / "probe.html"  # beside index.html, so static/*.png resolve the same
    head_end = page.rindex("</head>")  # the page's own: the inlined scripts before it mention "</head>" too
    page_probed = page[:head_end] + SCALE_PROBE + "\n" + page[head_end:]
    probe.write_text(page_probed.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf8")
    draw = subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=10000",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=180)
    return project, said, run.returncode, page, draw.stdout, draw.returncode, draw.stderr


def test_dvc_plots_show_draws_every_declared_plot_offline(shown):
    project, said, returncode, page, dom, draw_rc, draw_err = shown
    # dvc exits 0 even when a plot failed to load (it warns, or says "failed to load"), so its words count too
    assert returncode == 0, said
    assert not re.search(r"WARNING|ERROR|failed to load", said), said
    assert not REMOTE_SCRIPT.search(page), "the page loads a script over the network"

    assert draw_rc == 0 and "<body" in dom, draw_err[-3000:]
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


def page_specs(page):
    """{div id: the vega-lite spec DVC filled in} for each vega plot on a `dvc plots show` page."""
    specs = {}
    for m in re.finditer(r'<div id = "([^"]+)">\s*<script type = "text/javascript">\s*var spec = ', page):
        specs[m.group(1)], _ = json.JSONDecoder().raw_decode(page, m.end())
    return specs


def encodings(spec, channel):
    """Every `channel` encoding in a spec and its layers."""
    found = [spec["encoding"][channel]] if channel in spec.get("encoding", {}) else []
    for layer in spec.get("layer", []):
        found += encodings(layer, channel)
    return found


def test_the_curves_and_every_shipped_file_are_drawn(shown):
    """dvclive's tables of the teacher and the headline student are plots on the page, and the interactive
    accuracy-vs-bytes chart holds one point per shipped file: the teacher's and the headline's .tflite
    files and every .dcz file, as metrics/plots/artifacts.csv lists them."""
    import csv

    project, said, returncode, page, dom, draw_rc, draw_err = shown
    assert returncode == 0, said
    ids = set(declared_plots(project))
    for curves in ("metrics/live/teacher/plots/metrics", "metrics/live/student/seed-0/plots/metrics"):
        drawn = {i for i in ids if i.startswith(dom_id(curves))}
        tables = {dom_id(f"{curves}/{m}.tsv") for m in ("train/accuracy", "eval/accuracy")}
        assert tables <= drawn, (curves, sorted(ids))
    with open(project / "metrics/plots/artifacts.csv", newline="") as f:
        shipped = {row["name"] for row in csv.DictReader(f)}
    assert {"teacher.tflite", "teacher-int8.tflite", "student-int8.tflite"} <= shipped
    assert any(name.endswith(".dcz") for name in shipped)
    points = {d.get("name") for d in page_specs(page)[dom_id("accuracy_vs_bytes")]["data"]["values"]}
    assert points == shipped


def test_templates_are_declared_for_the_log_plots():
    from dvc.dvcfile import load_file
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        plots = {next(iter(p)): next(iter(p.values())) for p in load_file(repo, "dvc.yaml").plots
                 if isinstance(p, dict)}
    for name, template in LOG_PLOTS.items():
        assert plots[name]["template"] == template, name
        assert (ROOT / ".dvc" / "plots" / f"{template}.json").is_file(), template


def test_log_plots_have_a_log_x_and_a_zoomed_accuracy_axis(shown):
    project, said, returncode, page, dom, draw_rc, draw_err = shown
    assert returncode == 0, said
    specs = page_specs(page)
    for name in LOG_PLOTS:
        spec = specs[dom_id(name)]
        xs, ys = encodings(spec, "x"), encodings(spec, "y")
        assert xs and all(x.get("scale", {}).get("type") == "log" for x in xs), (name, xs)
        assert ys and all(y.get("scale", {}).get("zero") is False or "domain" in y.get("scale", {}) for y in ys), \
            (name, ys)
        assert not re.search(r"<DVC_METRIC_\w+>", json.dumps(spec)), f"{name}: an anchor DVC did not fill"
        tooltips = [t for e in encodings(spec, "tooltip") for t in e]
        assert any(t.get("title") == "name" for t in tooltips), f"{name}: no name in the tooltip"

    # and vega drew them so: the scales of the view each <div> holds
    assert draw_rc == 0, draw_err[-3000:]
    drawn = {m.group(1): json.loads(html.unescape(m.group(2)))
             for m in re.finditer(r'<div id="([^"]+)"[^>]*data-probe-scales="([^"]*)"', dom)}
    for name in LOG_PLOTS:
        scales = drawn.get(dom_id(name))
        assert scales, f"{name}: vega did not report its scales"
        assert scales["x"]["type"] == "log", (name, scales)
        low, high = scales["y"]["domain"]
        assert scales["y"]["type"] == "linear" and 0 < low < high <= 1.0, (name, scales)

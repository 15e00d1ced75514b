"""Write index.html, the page template `dvc plots show` fills (`plots.html_template` in .dvc/config).

index.src.html loads vega, vega-lite and vega-embed with `<script src="NAME.min.js">`; this replaces
each such tag by the vendored file's text, so the generated page is one self-contained file that draws
its vega plots offline in whatever folder DVC writes it. Run it after changing index.src.html or a
vendored script: `python plots_template/build.py` (`--check`: exit 1 if index.html is out of date).

dvc_render fills the template with str.replace of "{plot_divs}", "{refresh_tag}" and "{scripts}" (not
str.format), so the braces in the scripts need no escaping; only those three placeholders must not occur
in them. The template has no "{scripts}" slot: DVC would fill it with <script> tags loading vega from a CDN.
"""
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "index.src.html"
TARGET = HERE / "index.html"
SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")
TAG = re.compile(r'<script src="([^"]+)"></script>')
SOURCE_MAP = re.compile(r"\n?//# sourceMappingURL=\S+\s*$")  # the .map files are not vendored


def inline(name):
    """The vendored script `name`, checked safe to put between <script> and </script>."""
    if name not in SCRIPTS:
        raise SystemExit(f"{SOURCE.name}: <script src={name!r}> is not a vendored script {SCRIPTS}")
    text = SOURCE_MAP.sub("", (HERE / name).read_text(encoding="utf8"))
    for bad in ("</script", "<!--", *PLACEHOLDERS):
        if bad in text.lower():
            raise SystemExit(f"{name}: contains {bad!r}; it cannot be inlined into the template as is")
    return f"<script>/* {name} */\n{text}\n</script>"


def page():
    source = SOURCE.read_text(encoding="utf8")
    if "{plot_divs}" not in source or "{scripts}" in source:
        raise SystemExit(f"{SOURCE.name}: needs {{plot_divs}} and must not have {{scripts}}")
    found = TAG.findall(source)
    if sorted(found) != sorted(SCRIPTS):
        raise SystemExit(f"{SOURCE.name}: expected one <script src> for each of {SCRIPTS}, found {found}")
    return TAG.sub(lambda m: inline(m.group(1)), source)


def main(argv):
    text = page()
    if argv == ["--check"]:
        if not TARGET.is_file() or TARGET.read_text(encoding="utf8") != text:
            print(f"{TARGET} is out of date: run python {Path(__file__)}", file=sys.stderr)
            return 1
        return 0
    if argv:
        print(f"usage: python {Path(__file__).name} [--check]", file=sys.stderr)
        return 2
    TARGET.write_text(text, encoding="utf8")
    print(f"wrote {TARGET} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

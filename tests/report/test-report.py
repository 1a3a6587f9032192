#!/usr/bin/env python3
"""coinfer-report end to end: two synthetic fleet runs (gen-fleet.py, one with an
application named with markup) and two real benchmark outputs (bench-*.json,
committed) into a temporary folder. Checks: exit 0; every <img> of report.html is
a data: URI of a PNG; every expected PNG file exists and is not trivial; the
applications' attainments, requests and p99s in the page are the JSON's with the
report's rounding; the markup name comes out escaped in HTML and Markdown;
report.md links only PNGs that exist; malformed, unknown-version and incomplete
fleet JSON exit 2 naming the file. Exits 77 without gnuplot.

usage: test-report.py COINFER-REPORT SOURCE-ROOT"""
import base64
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

PNG = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert(1)</script>cam"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


class Page(html.parser.HTMLParser):
    """The images and table rows of the page (cell text unescaped)."""

    def __init__(self):
        super().__init__()
        self.imgs, self.rows, self.row, self.cell = [], [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs).get("src", ""))
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def fmt(v):
    """rp_fmt: integers whole, else 2 to 4 significant figures."""
    a = abs(v)
    if v == int(v) and a < 1e15:
        return "%.0f" % v
    if a >= 1000:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3g" % v


def run_cmd(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def check_images(page, out, runs):
    check(len(page.imgs) == 5 * runs + 1,
          "%d images in the page, expected %d" % (len(page.imgs), 5 * runs + 1))
    for src in page.imgs:
        ok = src.startswith("data:image/png;base64,")
        check(ok, "an <img> without a PNG data URI: %.60s" % src)
        if ok:
            check(base64.b64decode(src.split(",", 1)[1], validate=True)[:8] == PNG,
                  "an <img>'s data URI is not a PNG")
    names = ["load.png"] + ["run%d-%s.png" % (r, n) for r in range(1, runs + 1)
                            for n in ("cdf", "timeline-1", "timeline-2", "timeline-3",
                                      "decisions")]
    for n in names:
        p = os.path.join(out, n)
        ok = os.path.isfile(p)
        check(ok, "%s missing" % n)
        if ok:
            with open(p, "rb") as f:
                b = f.read()
            check(b[:8] == PNG and len(b) > 10000, "%s: not a PNG of non-trivial size" % n)


def check_numbers(page, run, which):
    """Each application's row in the page holds the JSON's numbers (which: 0 for
    the first run's row of that name, -1 for the last run's)."""
    for a in run["applications"]:
        rows = [r for r in page.rows if r and r[0] == a["name"] and len(r) == 10]
        lat = [r for r in page.rows if r and r[0] == a["name"] and len(r) == 12]
        check(len(rows) >= 1, "no application row for %r" % a["name"])
        if not rows:
            continue
        r = rows[which]
        check(r[2] == fmt(a["requests"]), "%s requests %s != %s" % (a["name"], r[2],
                                                                    a["requests"]))
        att = "%.2f%%" % (a["attainment"] * 100)
        check(r[4] == att, "%s attainment %s != %s" % (a["name"], r[4], att))
        check(r[6] == ("PASS" if a["objective_met"] else "MISS"), "%s verdict" % a["name"])
        p99 = lat[which][4] if lat else None
        check(p99 == fmt(a["latency_ms"]["p99"]), "%s p99 %s != %s" % (
            a["name"], p99, fmt(a["latency_ms"]["p99"])))
    tot = [r for r in page.rows if len(r) == 8 and r[0] == fmt(run["totals"]["requests"])]
    check(len(tot) >= 1, "no totals row with %d requests" % run["totals"]["requests"])


def check_escaping(out):
    with open(os.path.join(out, "report.html")) as f:
        text = f.read()
    check("<script>" not in text, "a raw <script> in report.html")
    check("&lt;script&gt;alert(1)&lt;/script&gt;cam" in text, "the name is not escaped in HTML")
    with open(os.path.join(out, "report.md")) as f:
        md = f.read()
    check("<script>" not in md, "a raw <script> in report.md")
    for link in re.findall(r"\]\(([^)]+\.png)\)", md):
        check(os.path.isfile(os.path.join(out, link)), "report.md links a missing %s" % link)


def check_minimal(report, tmp, full):
    """A run with only what must be there (meta, totals, applications): the tables,
    a sentence for each plot whose data are absent, exit 0."""
    with open(full) as f:
        run = json.load(f)
    small = {k: run[k] for k in ("kind", "version", "meta", "totals", "applications")}
    p = os.path.join(tmp, "minimal.json")
    with open(p, "w") as f:
        json.dump(small, f)
    out = os.path.join(tmp, "minimal-out")
    r = run_cmd([report, p, "--out", out])
    check(r.returncode == 0, "minimal run: exit %d: %s" % (r.returncode, r.stderr))
    if r.returncode == 0:
        with open(os.path.join(out, "report.html")) as f:
            text = f.read()
        check("no latency CDF" in text and "no attainment over time" in text,
              "minimal run: no sentence for the absent plots")


def check_errors(report, tmp):
    cases = {
        "malformed.json": ('{"kind": "coinfer-fleet", "version": 1,\n "meta": {"seed": 1,,}}',
                           ":2:"),
        "version.json": ('{"kind": "coinfer-fleet", "version": 7, "meta": {}, "totals": {},'
                         ' "applications": []}', "version"),
        "incomplete.json": ('{"kind": "coinfer-fleet", "version": 1, "meta": {},'
                            ' "applications": []}', "totals"),
    }
    for name, (text, want) in cases.items():
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            f.write(text)
        r = run_cmd([report, p, "--out", os.path.join(tmp, "bad-out")])
        check(r.returncode == 2, "%s: exit %d, expected 2" % (name, r.returncode))
        check(name in r.stderr and want in r.stderr,
              "%s: the error does not name the file and %r: %s" % (name, want, r.stderr))
    check(not os.path.exists(os.path.join(tmp, "bad-out")), "a bad input still wrote a report")


def main():
    report, root = sys.argv[1], sys.argv[2]
    if not shutil.which("gnuplot"):
        print("SKIP: no gnuplot (Debian: gnuplot-nox)")
        return 77
    here = os.path.join(root, "tests", "report")
    with tempfile.TemporaryDirectory(prefix="coinfer-report-") as tmp:
        f1, f2 = os.path.join(tmp, "run1.json"), os.path.join(tmp, "run2.json")
        gen = os.path.join(here, "gen-fleet.py")
        subprocess.run([sys.executable, gen, f1, "--seed", "1", "--app-name", EVIL], check=True)
        subprocess.run([sys.executable, gen, f2, "--seed", "2", "--rate-scale", "2"],
                       check=True)
        out = os.path.join(tmp, "out")
        r = run_cmd([report, f1, f2, os.path.join(here, "bench-model.json"),
                 os.path.join(here, "bench-appliance-quick.json"), "--out", out])
        check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
        if r.returncode == 0:
            page = Page()
            with open(os.path.join(out, "report.html")) as f:
                page.feed(f.read())
            check_images(page, out, 2)
            for which, path in ((0, f1), (-1, f2)):
                with open(path) as f:
                    check_numbers(page, json.load(f), which)
            check_escaping(out)
            check(any("avx2" in r for r in page.rows),
                  "no row of bench-model.json's runs")
        check_minimal(report, tmp, f1)
        check_errors(report, tmp)
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The pages a person reads, on real photos, in a real browser: a sweep of
four heads (block2_pool x avg1, max4 x softmax, an MLP of 32) through
pipeline.mk on data/clothing-30 (a copy, read through its manifest: 200
train, 100 validation photos, half of which become the test split), then
Debian's chromium, headless, opens the sweep's page and a head's
report.html: a screenshot of each (kept in the test logs; not blank), and
their DOM checked:
  - sweep terminal output: one progress line per head, the table ranked
    by validation accuracy with the best marked, every line under 120
    columns; sweep.csv holds the same ranking, equal to each head's
    metrics.json;
  - sweep.html: one row per head in the same order, the best marked, each
    name a relative link to a report.html that exists, the rows the scores
    come from named with their count;
  - report.html: the scored rows (test split, 50) named, the learning
    curves inline, 10 per-class and 10 confusion rows, one thumbnail (a
    data: JPEG of the original photo) per gallery entry, as many entries as
    the head got wrong (at most 24), the kept epoch marked when it is not
    the last;
  - once the photos are gone, a head trained again still gets its page,
    every gallery entry a note saying the photo is not readable."""
import csv
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

import vtlib

check = vtlib.check
LOGS = os.path.join(vtlib.BUILD, "test-logs")
CHROMIUM = shutil.which("chromium")
if not CHROMIUM:
    vtlib.skip("chromium is not installed (scripts/install-deps.sh installs it)")

tmp = vtlib.tmpdir()
profiles = 0


def chromium(*args):
    """Headless chromium as root, no network, a fresh profile each time."""
    global profiles
    profiles += 1
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + os.path.join(tmp, "profile-%d" % profiles), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def screenshot(page, png, height):
    p = chromium("--screenshot=" + png, "--window-size=1200,%d" % height, "file://" + page)
    ok = p.returncode == 0 and os.path.exists(png)
    check(ok, "chromium screenshot of %s (%s)" % (page, p.stderr[-300:] if not ok else png))
    if ok:
        im = np.asarray(Image.open(png).convert("L")).astype(int)
        check(im.shape[0] == height and (im < 128).mean() > 0.005 and im.std() > 10,
              "%s: a page with content, not blank (dark share %.3f)" % (png, (im < 128).mean()))


class Dom(html.parser.HTMLParser):
    """The elements of a page: (tag, attrs, the ids of the tables and
    sections it sits in) and its text."""

    def __init__(self, text):
        super().__init__()
        self.elements, self.text, self.stack = [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs, [a.get("id") for _, a in self.stack if a.get("id")]))
        if tag not in ("img", "br", "meta", "link", "input"):
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        self.text.append(data)

    def inside(self, tag, container):
        return [(t, a) for t, a, ids in self.elements if t == tag and container in ids]

    def all_text(self):
        return re.sub(r"\s+", " ", "".join(self.text))


def dom(page):
    p = chromium("--dump-dom", "file://" + page)
    check(p.returncode == 0 and "</html>" in p.stdout, "chromium --dump-dom %s" % page)
    return Dom(p.stdout)


# ---- the data: a copy of data/clothing-30, so that its photos can go later
data = os.path.join(tmp, "clothing-30")
shutil.copytree(os.path.join(vtlib.DATA, vtlib.CLOTHING), data)
config = os.path.join(tmp, "c30.ini")
work = os.path.join(tmp, "run")
with open(config, "w") as f:
    f.write(f"""[vggtap]
weights = {vtlib.WEIGHTS}
work = {work}
[extract]
manifest = {data}/manifest.csv
label-column = class
split-column = split
tap = block2_pool
[train]
split = manifest
[sweep]
pools = avg1 max4
heads = softmax 32
""")

# ---- the sweep, as a user runs it
p = subprocess.run(["make", "-j2", "--no-print-directory", "-f", os.path.join(vtlib.ROOT, "pipeline.mk"),
                    "BIN=" + vtlib.BIN, "CONFIG=" + config, "sweep"], capture_output=True, text=True,
                   cwd=vtlib.ROOT)
print(p.stdout)
check(p.returncode == 0, "make sweep exits 0 (%s)" % p.stderr[-500:])
if p.returncode != 0:
    sys.exit(1)
lines = p.stdout.splitlines()
names = {"b2/avg1/softmax", "b2/max4/softmax", "b2/avg1/32", "b2/max4/32"}
progress = [m for m in (re.match(r"^ *\[(\d)/4\] (\S+) +accuracy [0-9.]+ on test split \(50 rows\), "
                                  r"validation [0-9.]+ \(50 rows\)", line) for line in lines) if m]
check(len(progress) == 4 and {m.group(2) for m in progress} == names and
      sorted(int(m.group(1)) for m in progress) == [1, 2, 3, 4],
      "one progress line per head: [i/4] name, scores and their rows (%d)" % len(progress))
check(not any("vggtap-train" in line for line in lines), "no training command echoed")
start = next((i for i, line in enumerate(lines) if line.startswith("   head ")), None)
check(start is not None, "the table's header")
table = lines[start:start + 6] if start is not None else []
rows = [line for line in table[1:5]]
check(len(rows) == 4 and rows[0].startswith("*  ") and all(r.startswith("   ") for r in rows[1:]),
      "four rows, the first marked *")
check(len(table) == 6 and table[5].startswith("* the best by validation accuracy (50 rows); the scores come "
                                              "from the test split (50 rows), which chose nothing"),
      "the note says which rows chose the best and which give the scores: %r" % (table[5:6],))
wide = [line for line in table + [m.group(0) for m in progress] if len(line) > 120]
check(not wide, "table and progress lines fit in 120 columns (%s)" % wide)
table_names = [r.split()[1] for r in rows[:1]] + [r.split()[0] for r in rows[1:]]
val = [float(r.split()[-7]) for r in rows]
check(set(table_names) == names and val == sorted(val, reverse=True), "ranked by validation accuracy %s" % val)

with open(os.path.join(work, "sweep.csv"), newline="") as f:
    ranked = list(csv.DictReader(f))
check([r["name"] for r in ranked] == table_names and [r["best"] for r in ranked] == ["1", "0", "0", "0"],
      "sweep.csv: the same ranking, the best first")
for r in ranked:
    m = json.load(open(r["head"][:-3] + ".report/metrics.json"))
    check(abs(float(r["val_accuracy"]) - m["val_accuracy"]) < 1e-6 and abs(float(r["accuracy"]) - m["accuracy"]) < 1e-6
          and r["scored_on"] == m["eval"] == "test split" and int(r["n_scored"]) == m["n"] == 50 and m["held_out"],
          "%s: CSV equals metrics.json, scored on 50 held-out test rows" % r["name"])

# ---- sweep.html in the browser
page = os.path.join(work, "sweep.html")
screenshot(page, os.path.join(LOGS, "sweep-page.png"), 700)
d = dom(page)
trs = d.inside("tr", "leaderboard")
links = [a["href"] for a in (a for t, a in d.inside("a", "leaderboard"))]
check(len(trs) == 5 and trs[1][1].get("class") == "best" and all(a.get("class") != "best" for _, a in trs[2:]),
      "sweep.html: a header and four rows, the first marked best")
check(len(links) == 4 and all(not os.path.isabs(h) and h.endswith("head.report/report.html") and
                              os.path.exists(os.path.join(work, h)) for h in links),
      "sweep.html: each head links its report.html by a relative link that exists (%s)" % links)
check([re.sub(r"/head\.report/report\.html$", "", h).replace("block2_pool", "b2").removeprefix("sweep/")
       for h in links] == table_names, "sweep.html: rows in the table's order")
text = d.all_text()
check("ranked by validation accuracy" in text and text.count("test split (50)") == 4,
      "sweep.html names the ranking and each row's scored rows")

# ---- report.html of the MLP that ranked best among the MLPs, and of the best head
mlp = [r for r in ranked if r["hidden"] != "softmax"][0]
for r in [ranked[0]] + ([mlp] if mlp is not ranked[0] else []):
    report = r["head"][:-3] + ".report/report.html"
    m = json.load(open(r["head"][:-3] + ".report/metrics.json"))
    wrong = m["n"] - int(np.trace(np.array(m["confusion"])))
    shown = min(24, wrong)
    tag = r["name"].replace("/", "-")
    screenshot(report, os.path.join(LOGS, "report-page-%s.png" % tag), 2400)
    d = dom(report)
    text = d.all_text()
    jpegs = [a for t, a in d.inside("img", "gallery") if a.get("src", "").startswith("data:image/jpeg;base64,")]
    check(len(d.inside("figure", "gallery")) == shown and len(jpegs) == shown,
          "%s: %d gallery entries, each a thumbnail (the head got %d of 50 wrong)" % (r["name"], len(jpegs), wrong))
    check(all(int(a["width"]) <= 160 and int(a["height"]) <= 160 and os.path.exists(a["alt"]) for a in jpegs),
          "%s: thumbnails at most 160 pixels, named by the photo's path" % r["name"])
    check(len([a for t, a, _ in d.elements if t == "img" and a.get("src", "").startswith("data:image/png")]) == 1,
          "%s: the learning curves inline" % r["name"])
    check(len(d.inside("tr", "per-class")) == 11 and len(d.inside("tr", "confusion")) == 11,
          "%s: 10 per-class rows and 10 confusion rows" % r["name"])
    check("Scored on: test split (50 rows)" in text and "which chose nothing" in text,
          "%s: says the scores come from the 50 test rows" % r["name"])
    kept_last = m["kept_epoch"] == len(m["epochs"])
    check(("(marked)" in text) != kept_last and ("chose the kept epoch" in text) == (r["hidden"] != "softmax"),
          "%s: kept epoch %d of %d %s; the validation rows' role said" % (
              r["name"], m["kept_epoch"], len(m["epochs"]), "(the last)" if kept_last else "marked"))
    check(not any(t == "script" for t, _, _ in d.elements), "%s: no scripts" % r["name"])

# ---- the photos are gone: the report is written all the same
for cls in os.listdir(data):
    if os.path.isdir(os.path.join(data, cls)):
        shutil.rmtree(os.path.join(data, cls))
head = os.path.join(tmp, "again.h5")
p = vtlib.run([vtlib.tool("vggtap-train"), "--store", os.path.join(work, "store.h5"), "--split", "manifest",
               "--pool", "max4", "--out", head, "--quiet"], check=False)
check(p.returncode == 0, "training with the photos gone exits 0 (%s)" % p.stderr[-300:])
d = dom(os.path.join(tmp, "again.report", "report.html"))
figures = len(d.inside("figure", "gallery"))
check(figures > 0 and d.all_text().count("photo not readable: ") == figures and
      not [a for t, a in d.inside("img", "gallery")],
      "photos gone: every gallery entry (%d) says the photo is not readable" % figures)

if vtlib.failures:
    print(f"{len(vtlib.failures)} checks failed")
    sys.exit(1)
print("pages ok; screenshots in " + LOGS)

#!/usr/bin/env python3
"""Merges coinfer-codec-tables outputs of single exits (--exit E, run in parallel)
into one table: usage: merge-tables.py OUT.json IN1.json IN2.json ..."""
import json
import sys

out, ins = sys.argv[1], sys.argv[2:]
docs = [json.load(open(p)) for p in ins]
merged = dict(docs[0])
merged["entries"] = sorted((e for d in docs for e in d["entries"]),
                           key=lambda e: (e["exit"], e["partition"], e["bits"]))
merged["fp32_accuracy"] = sorted((a for d in docs for a in d["fp32_accuracy"]),
                                 key=lambda a: a["exit"])
if len({d["images"] for d in docs}) != 1 or len({d["model"] for d in docs}) != 1:
    sys.exit("merge-tables: inputs disagree on model or image count")
with open(out, "w") as f:
    json.dump(merged, f, indent=1)
    f.write("\n")
print(f"{out}: {len(merged['entries'])} entries, exits "
      f"{[a['exit'] for a in merged['fp32_accuracy']]}, {merged['images']} images")

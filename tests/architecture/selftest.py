#!/usr/bin/env python3
"""The architecture check must be able to fail: run check.py on the tree with
selftest/overlay.txt laid over it and selftest/links.json as the build, and pass
only if it reports exactly selftest/expected.txt beyond what it reports for the
tree alone (so a violation on the tree fails `architecture`, not this test).

  selftest.py --root SRC"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, 'selftest')
# LOCATION: RULE: what -- reason (rules.txt:N)
LINE_RE = re.compile(r'^(.+?): ([\w-]+): .+ -- .+ \(\S*rules\.txt:\d+\)$')


def run_check(root, extra):
    p = subprocess.run([sys.executable, os.path.join(HERE, 'check.py'), '--root', root] + extra,
                       capture_output=True, text=True)
    sys.stderr.write(p.stderr)
    keys, bad = set(), []
    for line in p.stdout.splitlines():
        m = LINE_RE.match(line)
        if m:
            keys.add('%s: %s' % m.groups())
        else:
            bad.append(line)
    return p.returncode, keys, bad


def expected():
    with open(os.path.join(FIXTURE, 'expected.txt'), encoding='utf-8') as f:
        return {ln.strip() for ln in f if ln.strip() and not ln.startswith('#')}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--root', required=True)
    root = ap.parse_args().root
    rc0, base, bad0 = run_check(root, [])
    rc, got, bad = run_check(root, ['--overlay', os.path.join(FIXTURE, 'overlay.txt'),
                                    '--links', os.path.join(FIXTURE, 'links.json')])
    want, new = expected(), got - base
    errors = ['a line without "LOCATION: RULE: what -- reason (rules.txt:N)": ' + b
              for b in bad0 + bad]
    if rc0 not in (0, 1) or rc != 1:
        errors.append('exit codes %d (tree) and %d (fixture); want 0 or 1, and 1' % (rc0, rc))
    errors += ['missed: ' + k for k in sorted(want - new)]
    errors += ['unexpected: ' + k for k in sorted(new - want)]
    errors += ['hidden by the fixture: ' + k for k in sorted(base - got)]
    for e in errors:
        print('architecture-selftest: ' + e)
    if not errors:
        print('architecture-selftest: all %d violations of the fixture reported' % len(want))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())

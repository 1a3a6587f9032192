#!/usr/bin/env python3
"""Checks coinfer's layering rules (rules.txt) against the tree's #includes, its
calls that start threads and the build's link lines; prints one line per
violation and exits 1 if there is any. python3 stdlib only.

  check.py --root SRC [--build BUILDDIR | --links FILE.json] [--overlay FILE]

--overlay lays the files of FILE over the tree: each starts at a line
"=== PATH" and runs to the next (a fixture needs no copy of the tree, and no
fake .c files in it). --links reads the targets from a JSON list of {"name",
"type", "sources", "links"} instead of a build (--dump-links prints a build's
in that form). Without --build or --links, the link rules are skipped."""

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = {'no-include', 'only-include', 'no-call', 'in-group', 'resolve', 'no-link', 'exe-only'}


class RulesError(Exception):
    pass


# ---------------------------------------------------------------- patterns

class Pattern:
    """One pattern over names: a path from the source root, or '<x>' for a
    system header (and a quoted include naming no file of the tree)."""

    def __init__(self, text):
        self.text = text
        if text.startswith('<') and text.endswith('>'):
            self.system, self.glob = True, text[1:-1]
        else:
            self.system = False
            self.glob = 'include/' + text if text.startswith('coinfer/') else text

    def match(self, name):
        if name.startswith('<'):
            return self.system and fnmatch.fnmatchcase(name[1:-1], self.glob)
        if self.system:
            return False
        if self.glob.endswith('/'):
            return name.startswith(self.glob)
        return fnmatch.fnmatchcase(name, self.glob)


class PatternSet:
    """A list of patterns and groups: a name matches when some positive term
    does and no negative one does."""

    def __init__(self, pos, neg):
        self.pos, self.neg = pos, neg

    def match(self, name):
        return (any(t.match(name) for t in self.pos) and
                not any(t.match(name) for t in self.neg))


def parse_patterns(words, groups, where):
    pos, neg = [], []
    for w in words:
        dest = pos
        if w.startswith('!'):
            dest, w = neg, w[1:]
        if w.startswith('@'):
            if w[1:] not in groups:
                raise RulesError('%s: unknown group %s' % (where, w))
            dest.append(groups[w[1:]])
        elif w:
            dest.append(Pattern(w))
    if not pos:
        raise RulesError('%s: a pattern list needs a positive pattern' % where)
    return PatternSet(pos, neg)


# ---------------------------------------------------------------- rules file

class Rule:
    def __init__(self, rid, kind, subject, objects, objects_text, reason, where):
        self.id, self.kind, self.subject = rid, kind, subject
        self.objects, self.objects_text = objects, objects_text
        self.reason, self.where = reason, where


def parse_rule(line, groups, where):
    body, sep, reason = line.partition(' -- ')
    if not sep or not reason.strip():
        raise RulesError('%s: a rule ends with " -- REASON"' % where)
    lhs, arrow, rhs = body.partition('->')
    words = lhs.split()
    if len(words) < 3 or words[1] not in KINDS:
        raise RulesError('%s: expected "ID KIND SUBJECT... [-> OBJECT...] -- REASON"' % where)
    rid, kind = words[0], words[1]
    needs_objects = kind not in ('resolve', 'exe-only')
    if needs_objects != bool(arrow):
        raise RulesError('%s: %s %s "-> OBJECT..."' %
                         (where, kind, 'needs' if needs_objects else 'takes no'))
    subject = parse_patterns(words[2:], groups, where)
    if kind == 'no-call':
        objects = rhs.split()
    elif arrow:
        objects = parse_patterns(rhs.split(), groups, where)
    else:
        objects = None
    return Rule(rid, kind, subject, objects, ' '.join(rhs.split()), reason.strip(), where)


def load_rules(path, root):
    groups, rules = {}, []
    rel = os.path.relpath(path, root)
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            where = '%s:%d' % (rel, n)
            if not line or line.startswith('#'):
                continue
            if line.startswith('group '):
                name, eq, rest = line[len('group '):].partition('=')
                if not eq:
                    raise RulesError('%s: expected "group NAME = PATTERN..."' % where)
                groups[name.strip()] = parse_patterns(rest.split(), groups, where)
                continue
            rule = parse_rule(line, groups, where)
            if any(r.id == rule.id for r in rules):
                raise RulesError('%s: rule %s defined twice' % (where, rule.id))
            rules.append(rule)
    return rules


# ---------------------------------------------------------------- sources

def walk_sources(top):
    found = []
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if not x.startswith(('.', 'build')))
        rel = os.path.relpath(d, top)
        found += [os.path.normpath(os.path.join(rel, f))
                  for f in sorted(files) if f.endswith(('.c', '.h'))]
    return found


def tree_sources(root):
    """The tree's .c/.h files: git's tracked ones (still on disk) in a repository,
    else every one outside build*/ and hidden folders."""
    try:
        out = subprocess.run(['git', '-C', root, 'ls-files', '-z', '--', '*.c', '*.h'],
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return walk_sources(root)
    return [p for p in out.decode().split('\0') if p and os.path.isfile(os.path.join(root, p))]


def read_sources(top, paths):
    texts = {}
    for rel in paths:
        with open(os.path.join(top, rel), encoding='utf-8', errors='replace') as f:
            texts[rel] = f.read()
    return texts


def read_overlay(path):
    """The files an overlay holds: each from a line "=== PATH" to the next; lines
    before the first are comments."""
    texts, current = {}, None
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('=== '):
                current = os.path.normpath(line[4:].strip())
                texts[current] = ''
            elif current is not None:
                texts[current] += line
    return texts


STRIP_RE = re.compile(r'//|/\*|"|\'')


def literal_end(text, i):
    """The end of the string or character literal starting at i (or of its line)."""
    q, k, n = text[i], i + 1, len(text)
    while k < n and text[k] != q and text[k] != '\n':
        k += 2 if text[k] == '\\' else 1
    return min(k + 1, n) if k < n and text[k] == q else k


def strip_code(text, keep_strings):
    """text with comments (and, unless keep_strings, literals' contents) blanked;
    lines stay where they were."""
    out, i, n = [], 0, len(text)
    while i < n:
        m = STRIP_RE.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i:m.start()])
        tok, i = m.group(), m.start()
        if tok == '//':
            j = text.find('\n', i)
            j = n if j < 0 else j
        elif tok == '/*':
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
        else:
            j = literal_end(text, i)
            if keep_strings:
                out.append(text[i:j])
                i = j
                continue
        out.append(re.sub(r'[^\n]', ' ', text[i:j]))
        i = j
    return ''.join(out)


INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)


def resolve(rel, kind, name, files):
    """The tree's file a #include names: a quoted one is looked for in the
    including folder, its parents (the layers put their root on -I) and include/;
    <coinfer/x.h> in include/. None when the tree has no such file."""
    cands = []
    if kind == '"':
        d = os.path.dirname(rel)
        while True:
            cands.append(os.path.normpath(os.path.join(d, name)))
            if not d:
                break
            d = os.path.dirname(d)
    cands.append(os.path.normpath(os.path.join('include', name)))
    return next((c for c in cands if c in files), None)


class Include:
    def __init__(self, line, kind, name, path):
        self.line, self.kind, self.name, self.path = line, kind, name, path
        self.item = path if path else '<%s>' % name


def scan_includes(texts):
    files = set(texts)
    incs = {}
    for rel, text in texts.items():
        code = strip_code(text, keep_strings=True)
        incs[rel] = []
        for m in INCLUDE_RE.finditer(code):
            kind, name = m.group(1), m.group(2).strip()
            incs[rel].append(Include(code.count('\n', 0, m.start()) + 1, kind, name,
                                     resolve(rel, kind, name, files)))
    return incs


# ---------------------------------------------------------------- the build's link lines

def ninja_tokens(line):
    return [re.sub(r'\$(.)', r'\1', t) for t in re.findall(r'(?:\$.|[^\s$])+', line)]


def ninja_link_edges(path):
    """For each output of a linking edge of build.ninja: its inputs (explicit
    and implicit) and the words of its LINK_ARGS."""
    with open(path, encoding='utf-8') as f:
        text = f.read().replace('$\n', ' ')
    edges, current = {}, None
    for line in text.split('\n'):
        if line.startswith('build '):
            current = None
            toks = ninja_tokens(line[len('build '):])
            colon = next((i for i, t in enumerate(toks) if t.endswith(':')), None)
            if colon is None or colon + 1 >= len(toks) or 'LINK' not in toks[colon + 1]:
                continue
            outs = toks[:colon] + [toks[colon][:-1]]
            ins = toks[colon + 2:]
            if '||' in ins:
                ins = ins[:ins.index('||')]  # order-only: built before, not linked
            current = [t for t in ins if t != '|']
            for o in outs:
                edges[o] = current
        elif current is not None and line.strip().startswith('LINK_ARGS ='):
            current += ninja_tokens(line.split('=', 1)[1])
        elif not line.startswith(' '):
            current = None
    return edges


def in_tree(paths, root):
    rels = (os.path.relpath(os.path.realpath(p), root) for p in paths)
    return [r for r in rels if not r.startswith('..')]


def load_build(build, root):
    """The targets of a meson build dir: name, type, sources (from the source
    root) and the targets on its link line (archives and objects of others)."""
    build, root = os.path.realpath(build), os.path.realpath(root)
    with open(os.path.join(build, 'meson-info', 'intro-targets.json'), encoding='utf-8') as f:
        intro = json.load(f)
    edges = ninja_link_edges(os.path.join(build, 'build.ninja'))
    names = [t['name'] for t in intro]
    targets, owner = [], {}
    for t in intro:
        files = [os.path.relpath(os.path.realpath(p), build) for p in t['filename']]
        srcs = in_tree((s for ts in t['target_sources'] for s in ts.get('sources', [])), root)
        name = t['name'] if names.count(t['name']) == 1 else files[0]
        rec = {'name': name, 'type': t['type'], 'sources': srcs, 'links': [], 'files': files}
        targets.append(rec)
        owner.update((p, rec) for p in files)
    for rec in targets:
        for tok in (tok for p in rec.pop('files') for tok in edges.get(p, [])):
            o = owner.get(tok) or owner.get(tok.split('.p/')[0])
            if o is not None and o is not rec and o['name'] not in rec['links']:
                rec['links'].append(o['name'])
    return targets


def load_links(path):
    with open(path, encoding='utf-8') as f:
        targets = json.load(f)
    names = {t['name'] for t in targets}
    for t in targets:
        if not set(t['links']) <= names:
            raise ValueError('%s: %s links a target not in the list' % (path, t['name']))
    return targets


# ---------------------------------------------------------------- the checks

class Tree:
    def __init__(self, texts):
        self.texts = texts
        self.files = sorted(texts)
        self.incs = scan_includes(texts)


def include_chain(tree, start, rule):
    """The shortest chain of includes from start to a file of rule.objects,
    followed only through the tree's files outside rule.subject (those answer
    for their own includes), or None."""
    parent, queue = {start: None}, [start]
    for node in queue:
        if rule.objects.match(node):
            chain = []
            while node is not None:
                chain.append(node)
                node = parent[node]
            return chain[::-1]
        if node.startswith('<') or rule.subject.match(node):
            continue
        for inc in tree.incs.get(node, []):
            if inc.item not in parent:
                parent[inc.item] = node
                queue.append(inc.item)
    return None


def check_no_include(tree, rule):
    for f in tree.files:
        if not rule.subject.match(f):
            continue
        for inc in tree.incs[f]:
            chain = include_chain(tree, inc.item, rule)
            if chain:
                via = ' (via %s)' % ' -> '.join(chain[:-1]) if len(chain) > 1 else ''
                yield '%s:%d' % (f, inc.line), 'includes %s%s' % (chain[-1], via)


def check_only_include(tree, rule):
    for f in tree.files:
        if not rule.subject.match(f):
            continue
        for inc in tree.incs[f]:
            if inc.path and not rule.objects.match(inc.path):
                yield '%s:%d' % (f, inc.line), 'includes %s, which is none of %s' \
                    % (inc.path, rule.objects_text)


def check_no_call(tree, rule):
    call = re.compile(r'(?<![\w.>])(%s)\s*\(' % '|'.join(map(re.escape, rule.objects)))
    for f in tree.files:
        if not rule.subject.match(f):
            continue
        code = strip_code(tree.texts[f], keep_strings=False)
        for m in call.finditer(code):
            yield '%s:%d' % (f, code.count('\n', 0, m.start()) + 1), 'calls %s()' % m.group(1)


def check_in_group(tree, rule):
    for f in tree.files:
        if rule.subject.match(f) and not rule.objects.match(f):
            yield '%s:1' % f, 'is in none of %s' % rule.objects_text


def check_resolve(tree, rule):
    for f in tree.files:
        if not rule.subject.match(f):
            continue
        for inc in tree.incs[f]:
            if inc.kind == '"' and not inc.path:
                yield '%s:%d' % (f, inc.line), 'includes "%s", which names no file of the tree' \
                    % inc.name


def is_library(t):
    return 'library' in t['type'] or 'module' in t['type']


def check_no_link(targets, rule):
    by_name = {t['name']: t for t in targets}
    for t in targets:
        if not t['sources'] or not rule.subject.match(t['sources'][0]):
            continue
        loc = 'target %s' % t['name']
        for s in t['sources']:
            if rule.objects.match(s):
                yield loc, 'compiles %s' % s
        for lib in t['links']:
            bad = [s for s in by_name[lib]['sources'] if rule.objects.match(s)]
            if bad:
                yield loc, 'links %s (%s)' % (lib, bad[0])


def check_exe_only(targets, rule):
    for t in targets:
        for s in t['sources'] if is_library(t) else []:
            if rule.subject.match(s):
                yield 'target %s' % t['name'], 'a %s, compiles %s' % (t['type'], s)


TREE_CHECKS = {'no-include': check_no_include, 'only-include': check_only_include,
               'no-call': check_no_call, 'in-group': check_in_group, 'resolve': check_resolve}
BUILD_CHECKS = {'no-link': check_no_link, 'exe-only': check_exe_only}


def check(rules, tree, targets):
    """Every violation as (location, rule, what), in the rules' order; a rule
    whose subject matches no file is one too."""
    found = []
    for rule in rules:
        if not any(rule.subject.match(f) for f in tree.files):
            found.append((rule.where, rule, 'its subject matches no file of the tree'))
        elif rule.kind in TREE_CHECKS:
            found += [(loc, rule, what) for loc, what in TREE_CHECKS[rule.kind](tree, rule)]
        elif targets is not None:
            found += [(loc, rule, what) for loc, what in BUILD_CHECKS[rule.kind](targets, rule)]
    return found


# ---------------------------------------------------------------- the program

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--root', required=True, help='the source tree')
    ap.add_argument('--rules', default=os.path.join(HERE, 'rules.txt'))
    ap.add_argument('--overlay', help='files laid over the tree ("=== PATH" then its text)')
    links = ap.add_mutually_exclusive_group()
    links.add_argument('--build', help='a meson build dir (its link lines)')
    links.add_argument('--links', help='targets as JSON instead of a build dir')
    ap.add_argument('--dump-links', action='store_true', help="print the targets as JSON")
    return ap.parse_args(argv)


def load(args):
    rules = load_rules(args.rules, args.root)
    texts = read_sources(args.root, tree_sources(args.root))
    if args.overlay:
        texts.update(read_overlay(args.overlay))
    targets = None
    if args.build:
        targets = load_build(args.build, args.root)
    elif args.links:
        targets = load_links(args.links)
    return rules, Tree(texts), targets


def location_key(loc):
    """Files by path then line, then targets: the order to fix them in."""
    path, _, line = loc.rpartition(':')
    return (loc.startswith('target '), path, int(line)) if line.isdigit() else (True, loc, 0)


def main(argv):
    args = parse_args(argv)
    try:
        rules, tree, targets = load(args)
    except (RulesError, OSError, ValueError, KeyError) as e:
        print('architecture: %s' % e, file=sys.stderr)
        return 2
    if args.dump_links:
        json.dump(targets, sys.stdout, indent=1)
        return 0
    found = sorted(check(rules, tree, targets), key=lambda v: location_key(v[0]))
    for loc, rule, what in found:
        print('%s: %s: %s -- %s (%s)' % (loc, rule.id, what, rule.reason, rule.where))
    links = 'no link lines' if targets is None else '%d targets' % len(targets)
    print('architecture: %d violation%s of %d rules over %d files and %s' %
          (len(found), '' if len(found) == 1 else 's', len(rules), len(tree.files), links),
          file=sys.stderr)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

"""`interp RUNS... --all-pairs`: which pairs of the runs still lack a curve. No torch here."""

from __future__ import annotations

import itertools
from dataclasses import replace

from lmctui.identities import any_split, interp_identity, matching_settings
from lmctui.service.catalog import distinct, incompatibility, require_done
from lmctui.service.curves import identity_of
from lmctui.service.methods import METHODS
from lmctui.store import Registry


def pending_pairs(registry: Registry, run_ids: list[str], template) -> tuple[list, list[str], int]:
    """`interp RUNS... --all-pairs`: one request (a copy of `template`, an InterpRequest) per pair
    of the runs that lacks one of its curves; the pairs refused as not comparable ('A-B: why');
    and how many pairs already had every curve (unless `template.recompute`)."""
    docs = [require_done(d) for d in distinct([registry.resolve("runs", r) for r in run_ids])]
    same_as = identity_of(registry)
    stored = {any_split(same_as(d)) for d in registry.all("curves")}
    requests, refused, done = [], [], 0
    for a, b in itertools.combinations(docs, 2):
        why = incompatibility(a, b)
        if why:
            refused.append(f"{a['id']}-{b['id']} ({why.split(': ', 1)[0].split(' differ in ')[-1]})")
            continue
        wanted = {interp_identity(a["id"], b["id"], m, template.options.points, a.get("dataset"),
                                  template.options.resets_bn, template.options.repair,
                                  matching_settings(m, {"seed": template.seed, **METHODS[m].settings(
                                      template.seed, template.matching, a.get("arch"))} if m in METHODS else {}))
                  for m in template.methods}
        if not template.recompute and wanted <= stored:
            done += 1
            continue
        requests.append(replace(template, run_a=a["id"], run_b=b["id"]))
    return requests, refused, done

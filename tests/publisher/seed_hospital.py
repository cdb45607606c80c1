"""Seeds a sekmet-fhir database with a hospital for the publisher's benchmark
(tests/bench_publisher.rs): WARDS wards of BEDS beds (two per room), every bed taken by a
patient admitted there, each with what a ward patient has: two inpatient medication
orders, each given once, vital signs, a lab panel for every other patient, an allergy for
every third. Deterministic per patient (sekmet's own seeded generator).

Uses sekmet's own workflows in-process (its LocalTarget), with the bench wards added to
its facility table, so the resources have exactly sekmet's shapes.

Usage: python seed_hospital.py SETTINGS.yaml WARDS BEDS
"""
import sys

from sekmet.config import load_settings
from sekmet.context import AppContext
from sekmet.workflows.registry import LOCATIONS, run_workflow
from sekmet.workflows.target import LocalTarget


def main() -> None:
    settings, wards, beds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for w in range(1, wards + 1):
        wk = f"bw-{w:02d}"
        LOCATIONS[wk] = (f"BW-{w:02d}", f"Bench ward {w:02d}", "wa", "Ward", None)
        for r in range(1, beds // 2 + 1):
            rk = f"br-{w:02d}-{r:02d}"
            LOCATIONS[rk] = (f"BR-{w:02d}-{r:02d}", f"Room {w:02d}.{r:02d}", "ro", "Room", wk)
            for b in (1, 2):
                LOCATIONS[f"bb-{w:02d}-{r:02d}-{b}"] = (
                    f"BB-{w:02d}-{r:02d}-{b}", f"{r:02d}-{b}", "bd", "Bed", rk)
    ctx = AppContext(load_settings(settings))
    t = LocalTarget(ctx.service)
    run_workflow(ctx, "adt.facility", t)
    n = 0
    for w in range(1, wards + 1):
        for r in range(1, beds // 2 + 1):
            for b in (1, 2):
                n += 1
                p = run_workflow(ctx, "adt.register_patient", t, {"seed": n})["patient"]
                e = run_workflow(ctx, "adt.admit", t,
                                 {"patient": p["id"], "bed": f"bb-{w:02d}-{r:02d}-{b}"})["encounter"]
                for med in ("197361", "313782"):
                    mr = run_workflow(ctx, "meds.prescribe", t, {"patient": p["id"], "encounter": e["id"],
                                                                 "medication": med, "inpatient": True})
                    run_workflow(ctx, "meds.administer", t,
                                 {"medication_request": mr["medication_request"]["id"]})
                run_workflow(ctx, "clinical.vitals", t, {"patient": p["id"], "encounter": e["id"]})
                if n % 2 == 0:
                    run_workflow(ctx, "orders.full_lab_cycle", t, {"patient": p["id"], "encounter": e["id"]})
                if n % 3 == 0:
                    run_workflow(ctx, "clinical.allergy", t, {"patient": p["id"]})
        print(f"ward {w}: {n} patients", flush=True)


if __name__ == "__main__":
    main()

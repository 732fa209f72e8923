"""Simulated raw EDC exports for the seed studies (``studybuild simulate``).

>>> from pathlib import Path
>>> r = simulate_study("surufatinib-sts", Path("/tmp/raw"))      # doctest: +SKIP
>>> print(r)                                                     # doctest: +SKIP

The layout of the files is documented in ``docs/raw-forms.md``; the model, its parameters and
their sources in ``docs/simulator.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from studybuild.simulate.config import MessConfig, SimulationSpec, load_simulation

__all__ = ["simulate_study", "SimulationResult", "MessConfig", "SimulationSpec", "load_simulation"]


@dataclass(frozen=True)
class SimulationResult:
    """What ``simulate_study`` wrote."""

    study_id: str
    out: Path
    subjects: int
    seed: int
    rows: dict            # form file -> data rows
    truth: dict           # truth file -> rows

    def __str__(self) -> str:
        width = max(len(k) for k in self.rows) if self.rows else 0
        lines = [f"simulated {self.study_id}: {self.subjects} subjects, seed {self.seed} -> {self.out}",
                 f"{len(self.rows)} forms ({sum(self.rows.values())} rows):"]
        lines += [f"  {k:<{width}}  {v:>8}" for k, v in self.rows.items()]
        lines.append(f"_truth/: {', '.join(f'{k} ({v})' for k, v in self.truth.items())}")
        return "\n".join(lines)


def simulate_study(study_id: str, out: Path, *, subjects: int | None = None, seed: int = 20240501,
                   mess: MessConfig | None = None) -> SimulationResult:
    """Simulate a study's raw EDC export into ``out`` (replaced atomically).

    Writes one CSV per CRF form, ``README.md`` describing them, and ``_truth/`` (what the
    simulator decided; never input to mappers). ``subjects`` defaults to the study's
    ``planned_subjects``; ``mess`` to the rates in ``specs/studies/ID/simulation.yaml``
    (``MessConfig.off()`` gives clean data). Same arguments give byte-identical files.
    """
    from studybuild.errors import UsageError
    from studybuild.simulate.write import write_all
    from studybuild.study import load_study

    study = load_study(study_id)
    spec = load_simulation(study_id)
    n = study.planned_subjects if subjects is None else int(subjects)
    if n < 1:
        raise UsageError(f"--subjects must be at least 1, got {n}")
    unknown = set(spec.drugs) - {t.name for t in study.treatments}
    if unknown:
        from studybuild.errors import SpecError

        raise SpecError(f"drugs {sorted(unknown)} are not treatments of study.yaml",
                        path=study.folder / "simulation.yaml")
    if mess is None:
        mess = MessConfig.from_spec(spec)
    elif not isinstance(mess, MessConfig):
        raise UsageError("mess must be a MessConfig")
    rows, truth = write_all(study, spec, mess, n, int(seed), Path(out))
    return SimulationResult(study_id=study_id, out=Path(out), subjects=n, seed=int(seed),
                            rows=rows, truth=truth)


def replace(cfg: MessConfig, **changes) -> MessConfig:
    """``dataclasses.replace`` for MessConfig (convenience for tests and notebooks)."""
    return dataclasses.replace(cfg, **changes)

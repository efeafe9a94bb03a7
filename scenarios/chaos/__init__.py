"""The chaos soak (Jepsen-style: a nemesis, recorded histories, a checker): `lblab chaos`.

plan.py      the schedule drawn from a seed: faults from the node kinds' hazards, config writes
recorder.py  the nemesis, the config writer and the LB status pollers, each recording a history
checker.py   pure verdicts over the histories (disruptions explained, config never lost or
             reverted, recovery, leftovers)
judge.py     a result directory -> the checker's verdicts, each violation with its history
run.py       a soak on a running lab, through the scenario runner (traffic, report)
"""
from .run import ChaosOptions, conclude, run_chaos

__all__ = ["ChaosOptions", "conclude", "run_chaos"]

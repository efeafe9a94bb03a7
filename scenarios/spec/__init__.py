"""Scenario files (scenarios/<name>.yaml): the model, loading and validation, and the check of a
scenario against the lab it runs on."""
from .lab import check_against_lab
from .load import (MAX_DURATION, MAX_RATE, ScenarioError, find_scenario, list_scenarios, load_scenario,
                   parse_scenario)
from .model import Check, FaultStep, Scenario
from ..trafficspec import DnsTraffic, HttpTraffic, Traffic

__all__ = ["Check", "DnsTraffic", "FaultStep", "HttpTraffic", "MAX_DURATION", "MAX_RATE", "Scenario",
           "ScenarioError", "Traffic", "check_against_lab", "find_scenario", "list_scenarios",
           "load_scenario", "parse_scenario"]

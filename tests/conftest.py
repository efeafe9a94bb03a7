"""Settings shared by every test package."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Property tests judge behaviour, not speed: on a loaded 2-core CI machine an example may take
# far longer than Hypothesis' default 200 ms deadline. Examples are derived from the test itself
# (derandomize), so a run is reproducible; LBLAB_HYPOTHESIS=long explores more.
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", deadline=None, max_examples=2000, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("LBLAB_HYPOTHESIS", "ci"))

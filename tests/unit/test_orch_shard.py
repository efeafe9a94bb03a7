from hypothesis import given, settings, strategies as st

from lbapp.orchestrator.shard import assign, owner, shards

TARGETS = [f"payment/be{i}" for i in range(200)]


def test_every_target_to_exactly_one_member_and_balanced():
    got = assign(["orch1", "orch2", "orch3"], TARGETS)
    assert set(got) == set(TARGETS)
    sizes = sorted(len(v) for v in shards(got).values())
    assert len(sizes) == 3 and sizes[0] > 40  # roughly even: 200/3 each


def test_losing_a_member_moves_only_its_share():
    before = assign(["orch1", "orch2", "orch3"], TARGETS)
    after = assign(["orch1", "orch3"], TARGETS)
    moved = {t for t in TARGETS if before[t] != after[t]}
    assert moved == {t for t in TARGETS if before[t] == "orch2"}


def test_adding_a_member_takes_only_what_it_wins():
    before = assign(["orch1", "orch2"], TARGETS)
    after = assign(["orch1", "orch2", "orch3"], TARGETS)
    assert all(after[t] in (before[t], "orch3") for t in TARGETS)


def test_order_and_duplicates_do_not_matter():
    assert assign(["b", "a", "a"], TARGETS) == assign(["a", "b"], TARGETS)
    assert owner(["x", "y"], "t") == owner(["y", "x"], "t")


def test_no_members():
    assert assign([], TARGETS) == {}


@settings(max_examples=100, deadline=None)
@given(members=st.sets(st.text(min_size=1, max_size=8), min_size=2, max_size=6),
       targets=st.sets(st.text(max_size=12), max_size=40), data=st.data())
def test_removal_moves_only_the_removed_members_targets(members, targets, data):
    gone = data.draw(st.sampled_from(sorted(members)))
    before = assign(members, targets)
    after = assign(members - {gone}, targets)
    for target in targets:
        assert (before[target] != after[target]) == (before[target] == gone)

"""Audit run names fit the run list (about 22 characters) and lead with the champion's move."""

from pipelines.store.audit import AliasMove, run_name


def test_a_promotion_is_named_by_the_champions_move_in_the_list_width():
    moves = [AliasMove("previous-champion", None, "1"), AliasMove("champion", "1", "2")]
    name = run_name("promote", moves, "champion")
    assert name == "promote v1→v2"
    assert len(name) <= 22


def test_baseline_rollback_and_moves_without_the_champion():
    assert run_name("baseline", [AliasMove("champion", None, "1")], "champion") == "baseline v1"
    assert run_name("rollback", [AliasMove("champion", "2", "1"),
                                 AliasMove("previous-champion", "1", "2")],
                    "champion") == "rollback v2→v1"
    assert run_name("reject", [AliasMove("challenger", "3", None)],
                    "champion") == "reject challenger v3→–"

"""Re-checks by ruleset stamp: no save while the namespace's nf_tables generation
is the one recorded for the same desired tables; a save as soon as either differs."""

import struct

from agent.drivers import nft_generation
from agent.drivers.iptables import IptablesManager
from agent.drivers.iptables_fake import FakeIptables
from agent.drivers.nft_generation import RulesetStamp
from agent.l3.nat import router_tables
from tests.unit.l3.golden import fip, golden_router

NS = 'qrouter-3b7b9a5e-2a4c-4e1c-9a0e-6f1f3c2d4b5a'


def manager(backend, stamp_file=None):
    """Over the in-memory iptables, whose ruleset generation each restore bumps."""
    return IptablesManager(NS, backend=backend, read_stamp=backend.stamp,
                           stamp_file=stamp_file)


def applied(stamp_file=None):
    """(backend, tables, manager) after the first apply in a created namespace."""
    backend = FakeIptables()
    tables = router_tables(golden_router())
    ipt = manager(backend, stamp_file)
    ipt.apply(tables, empty=True)
    return backend, tables, ipt


def test_a_created_namespace_is_applied_without_saving_then_rechecked_without_saving():
    backend = FakeIptables()
    tables = router_tables(golden_router())
    ipt = manager(backend)
    assert ipt.apply(tables, empty=True).restores == 2 and backend.saves == 0
    assert ipt.observe(tables).converged and backend.saves == 0
    assert not ipt.apply(tables).changed and backend.saves == 0


def test_empty_is_not_trusted_when_something_was_committed_there():
    backend, tables, _ = applied()
    again = manager(backend)       # forgot everything: its caller "created" it
    assert not again.apply(tables, empty=True).changed
    assert backend.saves == 2


def test_any_change_by_anyone_makes_the_next_check_save():
    backend, tables, ipt = applied()
    backend.generation += 1                 # iptables -A by an operator, say
    assert ipt.observe(tables).converged and backend.saves == 2
    assert ipt.observe(tables).converged and backend.saves == 2     # recorded again


def test_other_desired_tables_are_saved_and_compared():
    backend, _, ipt = applied()
    moved = router_tables(golden_router(floating_ips=(fip('172.24.4.162',
                                                          '192.168.10.99'),)))
    check = ipt.observe(moved)
    assert not check.converged and backend.saves == 2 and '172.24.4.162' in check.saved[4]
    assert ipt.apply(moved).restores == 1


def test_the_stamp_file_lets_the_next_agent_skip_the_save(tmp_path):
    path = str(tmp_path / 'router' / 'iptables.stamp')
    backend, tables, _ = applied(path)
    assert manager(backend, path).observe(tables).converged and backend.saves == 0
    backend.generation += 1
    assert manager(backend, path).observe(tables).converged and backend.saves == 2


def test_a_garbage_stamp_file_only_costs_a_save(tmp_path):
    path = tmp_path / 'iptables.stamp'
    backend, tables, _ = applied(str(path))
    path.write_text('\0garbage')
    assert manager(backend, str(path)).observe(tables).converged
    assert backend.saves == 2


def test_another_namespace_instance_is_never_taken_for_the_recorded_one():
    backend, tables, ipt = applied()
    ipt._read_stamp = lambda ns: RulesetStamp('fake-boot', backend.cookie + 1, backend.generation)
    ipt.observe(tables)
    assert backend.saves == 2


def test_without_a_stamp_every_check_saves():
    backend = FakeIptables()
    ipt = IptablesManager(NS, backend=backend)
    tables = router_tables(golden_router())
    ipt.apply(tables, empty=True)
    assert ipt.observe(tables).converged and ipt.observe(tables).converged
    assert backend.saves == 4


def test_without_a_stamp_a_change_is_saved_once_and_restored_as_observed():
    backend = FakeIptables(*(dict(backend_state) for backend_state in
                             applied()[0].state.values()))
    ipt = IptablesManager(NS, backend=backend)
    moved = router_tables(golden_router(floating_ips=(fip('172.24.4.162',
                                                          '192.168.10.99'),)))
    seen = ipt.observe(moved)
    assert ipt.restore(seen.texts).restore_input == seen.texts and backend.saves == 2


def _answer(generation, kind=nft_generation.NFT_MSG_NEWGEN):
    attrs = struct.pack('=HH', 8, nft_generation.NFTA_GEN_ID) + struct.pack('!I', generation)
    attrs += struct.pack('=HH', 8, 2) + struct.pack('!I', 1234)
    body = struct.pack('=BBH', 0, 0, 0) + attrs
    return struct.pack('=IHHII', 16 + len(body),
                       (nft_generation.NFNL_SUBSYS_NFTABLES << 8) | kind, 0, 1, 0) + body


def test_the_generation_is_read_from_the_kernel_answer():
    assert nft_generation.parse_generation(_answer(7)) == 7
    assert nft_generation.parse_generation(_answer(7, kind=nft_generation.NLMSG_ERROR)) is None
    assert nft_generation.parse_generation(b'\0' * 8) is None


def test_the_stamp_survives_its_text_form():
    stamp = RulesetStamp('0f0e-boot', 4096, 3)
    assert RulesetStamp.parse(stamp.dump()) == stamp


def test_the_restore_feeds_the_observed_texts_unless_something_changed_since():
    backend, _, ipt = applied()
    moved = router_tables(golden_router(floating_ips=(fip('172.24.4.162',
                                                          '192.168.10.99'),)))
    seen = ipt.observe(moved)
    assert not seen.converged and backend.saves == 2
    assert ipt.restore(seen.texts).restore_input == seen.texts and backend.saves == 2
    assert ipt.observe(moved).converged and backend.saves == 2       # recorded
    back = router_tables(golden_router())
    seen = ipt.observe(back)
    assert backend.saves == 4
    backend.generation += 1                                            # someone else
    assert ipt.restore(seen.texts).restores == 1 and backend.saves == 6


def test_a_namespace_taken_for_empty_that_is_not_is_saved_before_the_restore():
    backend, tables, _ = applied()
    again = manager(backend)
    texts = again.observe(tables, empty=True).texts
    assert len(texts) == 2 and backend.saves == 0
    assert again.restore(texts).restores == 0 and backend.saves == 2
    assert again.observe(tables).converged and backend.saves == 2


def test_texts_of_another_observation_are_fed_as_they_are_and_not_recorded():
    backend, tables, ipt = applied()
    moved = router_tables(golden_router(floating_ips=()))
    texts = manager(backend).observe(moved).texts
    assert ipt.restore(texts).restore_input == texts
    assert ipt.observe(moved).converged and backend.saves == 4       # saved: not proven


def test_a_new_namespace_observed_twice_is_diffed_once():
    backend, tables, _ = applied()
    fresh = manager(FakeIptables())
    first = fresh.observe(tables, empty=True)
    assert fresh.observe(tables, empty=True).texts is first.texts

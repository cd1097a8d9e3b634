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


class Kernel:
    """The namespace's generation: bumped by every restore, as nf_tables does."""

    def __init__(self):
        self.generation = 1
        self.reads = 0

    def read(self, namespace):
        self.reads += 1
        return RulesetStamp('boot', 42, self.generation)


class CountingBackend(FakeIptables):
    def __init__(self, kernel):
        super().__init__()
        self.kernel = kernel
        self.saves = 0

    def save(self, version):
        self.saves += 1
        return super().save(version)

    def restore(self, version, text):
        super().restore(version, text)
        self.kernel.generation += 1


def manager(kernel, backend, stamp_file=None):
    return IptablesManager(NS, backend=backend, read_stamp=kernel.read,
                           stamp_file=stamp_file)


def applied(stamp_file=None):
    """(kernel, backend, tables, manager) after the first apply in a created namespace."""
    kernel = Kernel()
    backend = CountingBackend(kernel)
    tables = router_tables(golden_router())
    ipt = manager(kernel, backend, stamp_file)
    ipt.apply(tables, empty=True)
    return kernel, backend, tables, ipt


def test_a_created_namespace_is_applied_without_saving_then_rechecked_without_saving():
    kernel = Kernel()
    backend = CountingBackend(kernel)
    tables = router_tables(golden_router())
    ipt = manager(kernel, backend)
    assert ipt.apply(tables, empty=True).restores == 2 and backend.saves == 0
    assert ipt.verify(tables).converged and backend.saves == 0
    assert not ipt.apply(tables).changed and backend.saves == 0


def test_empty_is_not_trusted_when_something_was_committed_there():
    kernel, backend, tables, _ = applied()
    again = manager(kernel, backend)       # forgot everything: its caller "created" it
    assert not again.apply(tables, empty=True).changed
    assert backend.saves == 2


def test_any_change_by_anyone_makes_the_next_check_save():
    kernel, backend, tables, ipt = applied()
    kernel.generation += 1                 # iptables -A by an operator, say
    assert ipt.verify(tables).converged and backend.saves == 2
    assert ipt.verify(tables).converged and backend.saves == 2     # recorded again


def test_other_desired_tables_are_saved_and_compared():
    kernel, backend, _, ipt = applied()
    moved = router_tables(golden_router(floating_ips=(fip('172.24.4.162',
                                                          '192.168.10.99'),)))
    check = ipt.verify(moved)
    assert not check.converged and backend.saves == 2 and '172.24.4.162' in check.saved[4]
    assert ipt.apply(moved).restores == 1


def test_the_stamp_file_lets_the_next_agent_skip_the_save(tmp_path):
    path = str(tmp_path / 'router' / 'iptables.stamp')
    kernel, backend, tables, _ = applied(path)
    assert manager(kernel, backend, path).verify(tables).converged and backend.saves == 0
    kernel.generation += 1
    assert manager(kernel, backend, path).verify(tables).converged and backend.saves == 2


def test_a_garbage_stamp_file_only_costs_a_save(tmp_path):
    path = tmp_path / 'iptables.stamp'
    kernel, backend, tables, _ = applied(str(path))
    path.write_text('\0garbage')
    assert manager(kernel, backend, str(path)).verify(tables).converged
    assert backend.saves == 2


def test_another_namespace_instance_is_never_taken_for_the_recorded_one():
    kernel, backend, tables, ipt = applied()
    ipt._read_stamp = lambda ns: RulesetStamp('boot', 43, kernel.generation)
    ipt.verify(tables)
    assert backend.saves == 2


def test_without_a_stamp_every_check_saves():
    backend = CountingBackend(Kernel())
    ipt = IptablesManager(NS, backend=backend)
    tables = router_tables(golden_router())
    ipt.apply(tables, empty=True)
    assert ipt.verify(tables).converged and ipt.verify(tables).converged
    assert backend.saves == 4


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


def test_the_apply_after_a_failed_verify_uses_its_save_unless_something_changed():
    kernel, backend, _, ipt = applied()
    moved = router_tables(golden_router(floating_ips=(fip('172.24.4.162',
                                                          '192.168.10.99'),)))
    assert not ipt.verify(moved).converged and backend.saves == 2
    assert ipt.apply(moved).restores == 1 and backend.saves == 2       # no second save
    back = router_tables(golden_router())
    assert not ipt.verify(back).converged and backend.saves == 4
    kernel.generation += 1                                            # someone else
    assert ipt.apply(back).restores == 1 and backend.saves == 6

"""The test bed from a shell: ``tools/testbed.sh up|down|status [--dir DIR]`` and
``tools/testbed.sh exec NODE [--dir DIR] -- COMMAND...`` (a command in a node)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from tests.functional.helpers.testbed.bed import STATE_FILE, TestBed

DEFAULT_DIR = '/tmp/netnode-testbed'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='testbed.sh', description=__doc__)
    parser.add_argument('action', choices=['up', 'down', 'status', 'exec'])
    parser.add_argument('node', nargs='?', help='exec: the node to run the command in')
    parser.add_argument('--dir', default=DEFAULT_DIR,
                        help='directory of the test bed (default %(default)s)')
    parser.add_argument('--prefix', default='tb',
                        help='prefix of the fabric, outside and probe namespaces')
    parser.add_argument('--nodes', default='net1,net2', help='network nodes')
    parser.add_argument('--agents', default='dhcp,l3', help='agents on each network node')
    parser.add_argument('--server-conf', default='', help='extra [DEFAULT] lines of the '
                        'controller, separated by ";"')
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[argv.index('--') + 1:] if '--' in argv else []
    args = parser.parse_args(argv[:argv.index('--')] if '--' in argv else argv)
    base = os.path.abspath(args.dir)
    exists = os.path.exists(os.path.join(base, STATE_FILE))
    if args.action == 'up':
        if exists:
            print(f'a test bed is already up in {base} (testbed.sh down first)',
                  file=sys.stderr)
            return 1
        bed = TestBed(base, args.prefix, tuple(args.nodes.split(',')),
                      tuple(a for a in args.agents.split(',') if a),
                      server_conf='\n'.join(args.server_conf.split(';')))
        bed.up()
        print(f'test bed up in {bed.timings["up"]:.1f} s: {base} '
              f'(controller API http://{bed.ctl_address}:9696 inside node ctl)')
        return 0
    if not exists:
        print(f'no test bed in {base}', file=sys.stderr)
        return 0 if args.action == 'down' else 1
    bed = TestBed.load(base)
    if args.action == 'status':
        json.dump(bed.status(), sys.stdout, indent=1)
        print()
        return 0
    if args.action == 'exec':
        nodes = {n.name: n for n in (bed.controller, bed.compute, *bed.nodes.values())}
        if args.node not in nodes or not command:
            parser.error(f'exec NODE -- COMMAND...; nodes: {", ".join(sorted(nodes))}')
        argv = nodes[args.node].argv(*command)
        os.execvp(argv[0], argv)
    start = time.monotonic()
    bed.down()
    print(f'test bed down in {time.monotonic() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())

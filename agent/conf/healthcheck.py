"""``[healthcheck]`` defaults: Neutron's ``api-paste.ini`` settings for
oslo.middleware's healthcheck application (``/healthcheck`` on the API port).

oslo.middleware owns the options; this only changes their defaults, so that
touching :data:`DISABLE_BY_FILE_PATH` takes a controller out of a load balancer
as it does Neutron's.  Registered as the ``oslo.config.opts.defaults`` hook of
the ``netnode.server`` namespace, so the generated ``netnode.conf.sample`` shows
the same defaults the server uses.
"""

DISABLE_BY_FILE_PATH = '/etc/netnode/healthcheck_disable'


def set_defaults():
    from oslo_config import cfg
    from oslo_middleware.healthcheck import opts
    cfg.set_defaults(opts.HEALTHCHECK_OPTS, backends=['disable_by_file'])
    cfg.set_defaults(opts.DISABLE_BY_FILE_OPTS, disable_by_file_path=DISABLE_BY_FILE_PATH)

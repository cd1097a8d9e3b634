"""The ``netnode`` command line: neutron-client style verbs over the REST API."""

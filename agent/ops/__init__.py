"""What operators and their tools ask a running service: systemd's readiness and
watchdog (:mod:`.sdnotify`, :mod:`.watchdog`), the Guru Meditation Report on
SIGUSR2 (:mod:`.gmr`), the Prometheus text endpoint (:mod:`.metrics`), all fed by
one read-only view of an agent (:mod:`.introspect`)."""

"""What leaves the system: the outbox's dispatcher and its subscribers (the national portal,
citizen notifications, integrators' webhooks), and what comes in from a scanner's folder."""

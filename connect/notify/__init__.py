"""Citizen notifications and staff deadline alerts, from the outbox.

One subscriber per channel (``notify.email``, ``notify.sms``, ``notify.zalo``) renders the
Vietnamese templates (:mod:`connect.notify.templates`) with the dossier's rows as they are when
it delivers, and sends through its channel (:mod:`connect.notify.channels`). Consent, the
channels chosen and an opt-out are read at that moment too, so an opt-out made after the event
still counts. The e-mail subscriber also carries the staff's deadline alerts, which
:func:`connect.notify.deadlines.alert_deadlines` emits on beat.
"""

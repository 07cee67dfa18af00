"""The national portal / provincial one-stop sync (DVCQG): every received dossier, its progress
and its status, pushed through the outbox.

``client`` speaks the portal's HTTP flow (token, GetNextValue, UploadFile, NoiHoSo,
CapNhatTienTrinh, CapNhatTrangThai); ``snapshot`` reads a dossier's current rows; ``payload``
turns them into the portal's JSON, one swappable builder per province; ``subscriber`` decides,
per outbox event, which calls to make; ``report`` counts the sync rate as QĐ 766 does.

Everything about the portal's wire format comes from secondary sources (public code of
provincial one-stop systems and a ministry's integration playground; domain notes §4.3), not
from the official specification: each module says what is unverified.
"""

"""The printed page: fonts, A4 document setup and QR modules shared by every PDF sohoa draws.

Forms, receipts, the auditor's report and the signature stamp all embed Noto Sans and lay out
A4 pages the same way; this package holds that once. It knows nothing of dossiers or
signatures, so ``signing`` and ``dossiers`` can both use it. Submodules are imported one by one
(``paper.fonts`` does not load fpdf2).
"""

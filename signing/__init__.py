"""Digital signatures for sohoa's digitised papers: PAdES on PDF/A, and their verification.

Knows nothing of dossiers, databases or HTTP, and does nothing at import time (no key, font or
network access); the application factory wires the pieces once per process:

* ``signing.errors``    -- the one error hierarchy (reason code, retryable, HTTP status).
* ``signing.pki``       -- ``init_dev_pki``: a development CA, unit/clerk/TSA certificates
  (clearly marked NOT FOR PRODUCTION), idempotent.
* ``signing.backends``  -- ``SignerBackend`` protocol; ``Pkcs12Backend`` (key cached per
  process), ``Pkcs11Backend`` (HSM session per process, reopened when lost);
  ``SignerRegistry`` maps a clerk id or ``"unit"`` to a backend from ``RegistryConfig``.
* ``signing.stamp``     -- Vietnamese Noto Sans subset (``ensure_stamp_font``), stamp text
  (``scan_stamp_lines``) and its placement on page 1.
* ``signing.sign``      -- ``DocumentSigner.sign`` (PAdES B-B, or B-T with
  ``make_timestamper``), returning a ``SignResult`` with the file's SHA-256.
* ``signing.validation`` -- ``validate_pdf``: the one offline validation of a file's
  signatures and document timestamps, as facts (``FileValidation``).
* ``signing.verify``    -- ``verify_pdf``: that validation as the JSON of ``sohoa verify`` and
  the API's ``/verification``.
* ``signing.report``    -- ``simple_report``/``render_pdf``: that validation as the auditor's
  DSS-style simple report, in JSON and as a PDF.
"""

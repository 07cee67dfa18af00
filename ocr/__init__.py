"""OCR stage of the sohoa pipeline: scan PDF in, searchable PDF/A-2b out.

- :mod:`ocr.engine`: :class:`~ocr.engine.OcrEngine` (OCRmyPDF + Tesseract, in-process).
- :mod:`ocr.pdfa`: :func:`~ocr.pdfa.check_pdfa`, re-checked on every output and signed file.
- :mod:`ocr.extract`: page texts and the fields of a Vietnamese administrative document.
- :mod:`ocr.quality`: CER and bag-of-words F1.
- :mod:`ocr.errors`: the one error hierarchy; nothing from OCRmyPDF escapes the package.

Importing the package has no side effects and does not import OCRmyPDF.
"""

"""Fees and payments: the cashier, amounts in words, and the e-receipt (XML and PDF)."""

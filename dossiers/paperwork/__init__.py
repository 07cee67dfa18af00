"""The forms of TT 01/2023 (01-06): rendering, and issuing them after the deciding transaction."""

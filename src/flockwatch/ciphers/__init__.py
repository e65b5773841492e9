"""Cipher and encoding detection: classical ciphers (Caesar/ROT13, Atbash, reversal,
monoalphabetic substitution, Vigenère), text encodings (base64, base32, hex, URL
escapes, backslash escapes) and leetspeak, found in whole texts or in spans, and
decoded so the plaintext can be scanned again. One module per concern; `scanner.py`
ties them together for the `cipher` rule type."""

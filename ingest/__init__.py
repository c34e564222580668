"""Getting mail in: sources (IMAP, Maildir, mbox, .eml), MIME understanding, storing each message once.

`parse.parse_message` turns raw bytes into a `ParsedMessage`; `sources` yields raw messages
from files; `store` writes them to the database exactly once.
"""

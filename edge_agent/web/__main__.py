"""`python -m edge_agent.web`: print a password hash for web.password_hash (the password is never echoed)."""

from __future__ import annotations

import getpass
import sys

from edge_agent.web.auth import hash_password


def main() -> int:
    """Read the password twice (or once from a pipe) and print its scrypt hash."""
    if sys.stdin.isatty():
        password = getpass.getpass("status page password: ")
        if password != getpass.getpass("again: "):
            print("the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 10:
        print("use at least 10 characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())

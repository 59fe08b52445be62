"""Token-protected mode: `Authorization: Token <t>` or `Bearer <t>`, checked in constant time."""

from __future__ import annotations

import hmac

SCHEMES = ("token", "bearer")


def token_from_header(value: str | None) -> str | None:
    """The credential of an `Authorization: Token|Bearer <t>` header, else None."""
    if not value:
        return None
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() not in SCHEMES or not credential:
        return None
    return credential


class TokenChecker:
    """Accepts any of the configured tokens; never logs or returns them."""

    def __init__(self, tokens: tuple[str, ...]) -> None:
        self._tokens = tuple(token.encode() for token in tokens)

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def accepts(self, header_value: str | None) -> bool:
        credential = token_from_header(header_value)
        if credential is None:
            return False
        offered = credential.encode("utf-8", "surrogateescape")
        # Compare against every token, so the time taken does not tell which matched.
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(offered, token)
        return matched

    def __repr__(self) -> str:
        return f"TokenChecker(tokens={len(self._tokens)})"


def info_from_token_header(api_key: str, required_scopes: object) -> dict[str, str] | None:
    """Connexion's hook for the spec's TokenAuthentication scheme.

    Every operation lists the empty requirement first (tokens are optional in the
    contract), so Connexion lets requests through; whether a token is needed depends on
    the running mode and is enforced by `impl.middleware.OperationGate`. This only
    tells Connexion whether the header is a well-formed credential.
    """
    return {"sub": "token"} if token_from_header(api_key) else None

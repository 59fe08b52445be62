"""Security functions named by the spec's x-*InfoFunc keys, delegated to impl."""

from impl import auth


def info_from_TokenAuthentication(api_key, required_scopes):
    return auth.info_from_token_header(api_key, required_scopes)

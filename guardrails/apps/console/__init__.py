"""The review console: a small web app, served by the library, for the people who label.

``python -m guardrails review serve --queue URL --tokens FILE`` (the ``serve`` extra) runs
it; [`create_app`][guardrails.apps.console.app.create_app] builds the same app for a server of
your own. Reviewers sign in with a token from a
[`TokenFile`][guardrails.apps.console.tokens.TokenFile].
"""

from __future__ import annotations

from guardrails.apps.console.app import claim_case, create_app
from guardrails.apps.console.serve import serve
from guardrails.apps.console.tokens import TokenFile

__all__ = ["TokenFile", "claim_case", "create_app", "serve"]

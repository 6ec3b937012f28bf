"""/tokens: admins create, list and revoke API tokens."""
import dataclasses

from flask.views import MethodView

from ..domain import auth
from .parsing import Blueprint
from .schemas import TokenCreatedSchema
from .schemas import TokenCreateSchema
from .schemas import TokenListSchema
from .security import principal
from .security import requires

blp = Blueprint("tokens", __name__, description="API tokens (admin role).")

_TOKEN_NAME = {"in": "path", "name": "token_name", "description": "Token name.",
               "schema": {"type": "string", "pattern": auth.TOKEN_NAME_PATTERN}}


@blp.route("/tokens")
class Tokens(MethodView):
    @requires("admin")
    @blp.response(200, TokenListSchema)
    def get(self):
        """Every token, active and revoked; never their secrets."""
        return {"tokens": auth.list_tokens(principal())}

    @requires("admin")
    @blp.arguments(TokenCreateSchema)
    @blp.response(201, TokenCreatedSchema)
    def post(self, body):
        """Create a token; the response is the only time its value is shown."""
        token, value = auth.create_token(principal(), body["name"], body["role"], body["models"],
                                         body["expires_in_days"])
        return dict(dataclasses.asdict(token), token=value)


@blp.route("/tokens/<token_name>", parameters=[_TOKEN_NAME])
class Token(MethodView):
    @requires("admin")
    @blp.response(204)
    def delete(self, token_name):
        """Revoke a token within the caller's reach. A token cannot revoke itself (ask another admin)."""
        auth.revoke_token(principal(), token_name)

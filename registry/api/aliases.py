"""/models/<name>/aliases/<alias>: mutable names for versions, usable as ``@alias`` in any {ref}."""
from flask.views import MethodView

from ..domain import aliases
from . import params
from .parsing import Blueprint
from .schemas import AliasDeleteQuerySchema
from .schemas import AliasSchema
from .schemas import AliasSetSchema
from .security import principal
from .security import requires

blp = Blueprint("aliases", __name__, description="Aliases: set, moved and deleted in the audit log.")


@blp.route("/models/<name>/aliases/<alias>", parameters=params.MODEL_ALIAS)
class Alias(MethodView):
    @requires("writer")
    @blp.arguments(AliasSetSchema)
    @blp.response(200, AliasSchema)
    def put(self, body, name, alias):
        """Point the alias at a version (moving it if it is set); stages do not change."""
        return aliases.set_alias(principal(), name, alias, str(body["version"]), body["comment"])

    @requires("writer")
    @blp.arguments(AliasDeleteQuerySchema, location="query")
    @blp.response(200, AliasSchema)
    def delete(self, query, name, alias):
        """Remove the alias; previous_version is the version it named."""
        return aliases.delete_alias(principal(), name, alias, query.get("comment", ""))

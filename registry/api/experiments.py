"""/experiments: named groups of runs."""
from flask import current_app
from flask.views import MethodView

from ..domain import experiments
from . import params
from .idempotency import idempotent
from .parsing import Blueprint
from .security import principal
from .security import requires
from .tracking_schemas import ExperimentCreateSchema
from .tracking_schemas import ExperimentListQuerySchema
from .tracking_schemas import ExperimentListSchema
from .tracking_schemas import ExperimentSchema

blp = Blueprint("experiments", __name__, description="Experiments: every run belongs to one (Default, id 0, "
                                                     "when none is named).")


@blp.route("/experiments")
class Experiments(MethodView):
    @requires("reader")
    @blp.arguments(ExperimentListQuerySchema, location="query")
    @blp.response(200, ExperimentListSchema)
    def get(self, query):
        """Experiments ordered by name; follow next_page_token for more."""
        found, token = experiments.list_experiments(
            principal(), limit=query.get("limit", current_app.config["PAGE_SIZE"]), page_token=query.get("page_token"))
        return {"experiments": found, "next_page_token": token}

    @idempotent
    @requires("writer")
    @blp.doc(parameters=[params.IDEMPOTENCY_KEY])
    @blp.arguments(ExperimentCreateSchema)
    @blp.response(201, ExperimentSchema)
    def post(self, body):
        """Create an experiment."""
        return experiments.create_experiment(principal(), body["name"], body["tags"])


@blp.route("/experiments/<path:experiment_name>", parameters=[params.EXPERIMENT])
class ExperimentDetail(MethodView):
    @requires("reader")
    @blp.response(200, ExperimentSchema)
    def get(self, experiment_name):
        """One experiment."""
        return experiments.get_experiment(principal(), experiment_name)

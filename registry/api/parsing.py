"""Request bodies of the native API: parsed with registry/bounded_json.py before any schema sees them."""
import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser
from webargs.flaskparser import is_json_request

from ..bounded_json import bounded_loads


class BoundedJSONParser(FlaskParser):
    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        # A UnicodeDecodeError is webargs' to report, like a JSONDecodeError.
        return bounded_loads(req.get_data(cache=True).decode("utf-8"))


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = BoundedJSONParser()

    def arguments(self, schema, *args, **kwargs):  # type: ignore[no-untyped-def]
        # webargs instantiates a schema class on every request (30-60 us); one instance serves them all.
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

"""The OpenAPI document as the app builds it (openapi.yaml is a checked-in copy)."""


def spec_dict(app):
    return app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()

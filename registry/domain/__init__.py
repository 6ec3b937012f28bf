"""The domain: use cases as plain functions over the database and storage, no HTTP.

Every surface (registry/api, the CLI, and the MLflow API to come) calls these.
"""

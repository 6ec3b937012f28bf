"""The UI's blueprint, shared by its page modules."""
from flask import Blueprint

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates")

PAGE_SIZE = 50

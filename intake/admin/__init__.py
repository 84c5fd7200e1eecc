from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/staff")

from . import views  # noqa: E402,F401

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")

from . import account, views  # noqa: E402,F401

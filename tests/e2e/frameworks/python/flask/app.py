#!/usr/bin/env python3
"""Matrix app: a small shop API on Flask under opentelemetry-instrumentation-flask.

Flask has no OpenAPI generator of its own; the spec comes from flask-smorest (maintained, builds
the document from the registered Blueprints' rules through apispec). Documented routes live on
flask-smorest Blueprints; hidden routes live on a plain Flask Blueprint registered with the app
directly, so flask-smorest never sees them — the way a Flask team keeps routes out of its spec.
Auth is a decorator (`require_bearer`) answering 401; `@blp.doc(security=...)` documents it.
Served by werkzeug's threaded server on 127.0.0.1:$PORT.

  app.py                     serve (env: PORT, OTEL_*; see ../../README.md)
  app.py --write-spec OUT    write flask-smorest's OpenAPI document to OUT and exit
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from functools import wraps

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from flask import Blueprint as FlaskBlueprint  # noqa: E402
from flask import Flask, abort, jsonify, request  # noqa: E402
from flask_smorest import Api, Blueprint  # noqa: E402

from matrix_tracing import MISSING_IDS, token_is_valid  # noqa: E402

app = Flask(__name__)
app.config.update(
    API_TITLE="Matrix shop (Flask)",
    API_VERSION="1.0.0",
    OPENAPI_VERSION="3.0.3",
)
api = Api(app)
api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
BEARER = [{"bearerAuth": []}]


def require_bearer(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        if not token_is_valid(request.headers.get("Authorization")):
            return jsonify(error="unauthorized"), 401, {"WWW-Authenticate": "Bearer"}
        return view(*args, **kwargs)

    return guarded


def body() -> dict:
    return request.get_json(silent=True) or {}


meta = Blueprint("meta", __name__, description="Service health")
shop = Blueprint("shop", __name__, url_prefix="/api", description="Catalogue, users, orders, files")


# --- documented, public ---------------------------------------------------------------------
@meta.route("/health", methods=["GET"])
@meta.response(200)
def health():
    return {"status": "ok"}


@shop.route("/products", methods=["GET"])
@shop.response(200)
def list_products():
    return [{"id": i, "name": f"product {i}"} for i in range(1, 4)]


@shop.route("/products/<int:product_id>", methods=["GET"])
@shop.response(200)
def get_product(product_id):
    if product_id >= MISSING_IDS:
        abort(404)
    return {"id": product_id}


@shop.route("/categories/<slug>/products", methods=["GET"])
@shop.response(200)
def category_products(slug):
    return {"category": slug, "products": []}


@shop.route("/promotions/<slug>", methods=["GET"])
@shop.response(200)
def get_promotion(slug):
    return {"slug": slug, "discount": 10}


@shop.route("/users/<username>", methods=["GET"])
@shop.response(200)
def public_profile(username):
    return {"username": username}


# --- documented, secured --------------------------------------------------------------------
@shop.route("/products", methods=["POST"])
@shop.doc(security=BEARER)
@shop.response(201)
@require_bearer
def create_product():
    return {"id": 99, **body()}


@shop.route("/products/<int:product_id>", methods=["PUT"])
@shop.doc(security=BEARER)
@shop.response(200)
@require_bearer
def replace_product(product_id):
    return {"id": product_id, **body()}


@shop.route("/products/<int:product_id>", methods=["DELETE"])
@shop.doc(security=BEARER)
@shop.response(204)
@require_bearer
def delete_product(product_id):
    return ""


@shop.route("/products/<int:product_id>/reviews", methods=["POST"])
@shop.doc(security=BEARER)
@shop.response(201)
@require_bearer
def add_review(product_id):
    return {"product_id": product_id, **body()}


@shop.route("/me", methods=["GET"])
@shop.doc(security=BEARER)
@shop.response(200)
@require_bearer
def me():
    return {"user": "matrix-user"}


@shop.route("/users/<username>", methods=["PUT"])
@shop.doc(security=BEARER)
@shop.response(200)
@require_bearer
def update_profile(username):
    return {"username": username, **body()}


@shop.route("/users/<username>/orders", methods=["GET"])
@shop.doc(security=BEARER)
@shop.response(200)
@require_bearer
def user_orders(username):
    return {"username": username, "orders": []}


@shop.route("/users/<username>/orders/<int:order_id>", methods=["GET"])
@shop.doc(security=BEARER)
@shop.response(200)
@require_bearer
def user_order(username, order_id):
    if order_id >= MISSING_IDS:
        abort(404)
    return {"username": username, "order": order_id}


@shop.route("/orders", methods=["POST"])
@shop.doc(security=BEARER)
@shop.response(201)
@require_bearer
def create_order():
    return {"id": str(uuid.uuid4()), **body()}


@shop.route("/orders/<uuid:order_id>", methods=["GET"])
@shop.doc(security=BEARER)
@shop.response(200)
@require_bearer
def get_order(order_id):
    return {"id": str(order_id)}


@shop.route("/orders/<uuid:order_id>", methods=["PATCH"])
@shop.doc(security=BEARER)
@shop.response(200)
@require_bearer
def patch_order(order_id):
    return {"id": str(order_id), **body()}


@shop.route("/orders/<uuid:order_id>", methods=["DELETE"])
@shop.doc(security=BEARER)
@shop.response(204)
@require_bearer
def cancel_order(order_id):
    return ""


@shop.route("/files/<path:file_path>", methods=["GET"])
@shop.doc(security=BEARER)
@shop.response(200)
@require_bearer
def get_file(file_path):
    return {"path": file_path, "size": 1024}


# --- documented as secured, but the decorator was forgotten: serves anonymous callers --------
@shop.route("/recommendations", methods=["GET"])
@shop.doc(security=BEARER)
@shop.response(200)
def recommendations():
    return {"products": [1, 2, 3]}


api.register_blueprint(meta)
api.register_blueprint(shop)

# --- hidden: a plain Flask Blueprint, registered with the app, never with flask-smorest --------
ops = FlaskBlueprint("ops", __name__)


@ops.get("/admin/export")
def admin_export():
    return {"rows": 1234}


@ops.post("/internal/reindex")
def internal_reindex():
    return {"queued": True}, 202


@ops.get("/internal/orders/<uuid:order_id>/raw")
def internal_order_raw(order_id):
    return {"id": str(order_id), "raw": "..."}


@ops.get("/admin/users")
@require_bearer
def admin_users():
    return {"users": []}


@ops.delete("/admin/users/<username>")
@require_bearer
def admin_delete_user(username):
    return "", 204


app.register_blueprint(ops)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--write-spec":
        with app.app_context():
            doc = api.spec.to_dict()
        with open(sys.argv[2], "w") as f:
            json.dump(doc, f, indent=1)
        return
    if len(sys.argv) != 1:
        raise SystemExit(__doc__)

    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from werkzeug.serving import make_server

    from matrix_tracing import Terminated, exit_on_sigterm, port, setup_tracing

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log
    provider = setup_tracing()
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)
    server = make_server("127.0.0.1", port(), app, threaded=True)
    exit_on_sigterm()
    try:
        server.serve_forever()
    except Terminated:
        pass
    finally:
        server.server_close()
        provider.shutdown()


if __name__ == "__main__":
    main()

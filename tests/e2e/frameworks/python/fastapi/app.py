#!/usr/bin/env python3
"""Matrix app: a small shop API on FastAPI under opentelemetry-instrumentation-fastapi.

Auth is FastAPI's own `Depends(HTTPBearer())` plus a token check that raises 401; hidden routes
use `include_in_schema=False`; the spec is `app.openapi()`. Served by uvicorn on 127.0.0.1:$PORT.

  app.py                     serve (env: PORT, OTEL_*; see ../../README.md)
  app.py --write-spec OUT    write the framework's own OpenAPI document to OUT and exit
"""

from __future__ import annotations

import json
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fastapi import Depends, FastAPI, HTTPException  # noqa: E402
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from matrix_tracing import MISSING_IDS, token_is_valid  # noqa: E402

app = FastAPI(title="Matrix shop (FastAPI)", version="1.0.0")

bearer = HTTPBearer()
optional_bearer = HTTPBearer(auto_error=False)


def current_user(creds: HTTPAuthorizationCredentials = Depends(bearer)) -> str:
    if not token_is_valid(f"{creds.scheme} {creds.credentials}"):
        raise HTTPException(status_code=401, detail="invalid token", headers={"WWW-Authenticate": "Bearer"})
    return creds.credentials.removeprefix("valid-") or "someone"


def maybe_user(creds: HTTPAuthorizationCredentials | None = Depends(optional_bearer)) -> str | None:
    # Personalises when a token comes, serves everyone otherwise; the spec still lists bearer
    # security for it (auto_error=False does not change the generated document).
    return creds.credentials if creds else None


class ProductIn(BaseModel):
    name: str = "thing"
    price: float = 1.0


class OrderIn(BaseModel):
    product_id: int = 1
    quantity: int = 1


class OrderPatch(BaseModel):
    status: str = "shipped"


class ProfileIn(BaseModel):
    display_name: str = "someone"


class ReviewIn(BaseModel):
    stars: int = 5
    text: str = ""


# --- documented, public ---------------------------------------------------------------------
@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/api/products")
def list_products():
    return [{"id": i, "name": f"product {i}"} for i in range(1, 4)]


@app.get("/api/products/{product_id}")
def get_product(product_id: int):
    if product_id >= MISSING_IDS:
        raise HTTPException(status_code=404, detail="no such product")
    return {"id": product_id, "name": f"product {product_id}"}


@app.get("/api/categories/{slug}/products")
def category_products(slug: str):
    return {"category": slug, "products": []}


@app.get("/api/promotions/{slug}")
def get_promotion(slug: str):
    return {"slug": slug, "discount": 10}


@app.get("/api/users/{username}")
def public_profile(username: str):
    return {"username": username}


# --- documented, secured --------------------------------------------------------------------
@app.post("/api/products", status_code=201)
def create_product(body: ProductIn, user: str = Depends(current_user)):
    return {"id": 99, **body.model_dump()}


@app.put("/api/products/{product_id}")
def replace_product(product_id: int, body: ProductIn, user: str = Depends(current_user)):
    return {"id": product_id, **body.model_dump()}


@app.delete("/api/products/{product_id}", status_code=204)
def delete_product(product_id: int, user: str = Depends(current_user)):
    return None


@app.post("/api/products/{product_id}/reviews", status_code=201)
def add_review(product_id: int, body: ReviewIn, user: str = Depends(current_user)):
    return {"product_id": product_id, "by": user}


@app.get("/api/me")
def me(user: str = Depends(current_user)):
    return {"user": user}


@app.put("/api/users/{username}")
def update_profile(username: str, body: ProfileIn, user: str = Depends(current_user)):
    return {"username": username, **body.model_dump()}


@app.get("/api/users/{username}/orders")
def user_orders(username: str, user: str = Depends(current_user)):
    return {"username": username, "orders": []}


@app.get("/api/users/{username}/orders/{order_id}")
def user_order(username: str, order_id: int, user: str = Depends(current_user)):
    if order_id >= MISSING_IDS:
        raise HTTPException(status_code=404, detail="no such order")
    return {"username": username, "order": order_id}


@app.post("/api/orders", status_code=201)
def create_order(body: OrderIn, user: str = Depends(current_user)):
    return {"id": str(uuid.uuid4()), **body.model_dump()}


@app.get("/api/orders/{order_id}")
def get_order(order_id: uuid.UUID, user: str = Depends(current_user)):
    return {"id": str(order_id)}


@app.patch("/api/orders/{order_id}")
def patch_order(order_id: uuid.UUID, body: OrderPatch, user: str = Depends(current_user)):
    return {"id": str(order_id), **body.model_dump()}


@app.delete("/api/orders/{order_id}", status_code=204)
def cancel_order(order_id: uuid.UUID, user: str = Depends(current_user)):
    return None


@app.get("/api/files/{file_path:path}")
def get_file(file_path: str, user: str = Depends(current_user)):
    return {"path": file_path, "size": 1024}


# --- documented as secured (the spec lists bearer), but serves anonymous callers -------------
@app.get("/api/recommendations")
def recommendations(user: str | None = Depends(maybe_user)):
    return {"for": user, "products": [1, 2, 3]}


# --- hidden from the spec -------------------------------------------------------------------
@app.get("/admin/export", include_in_schema=False)
def admin_export():
    return {"rows": 1234}


@app.post("/internal/reindex", include_in_schema=False, status_code=202)
def internal_reindex():
    return {"queued": True}


@app.get("/internal/orders/{order_id}/raw", include_in_schema=False)
def internal_order_raw(order_id: uuid.UUID):
    return {"id": str(order_id), "raw": "..."}


@app.get("/admin/users", include_in_schema=False)
def admin_users(user: str = Depends(current_user)):
    return {"users": []}


@app.delete("/admin/users/{username}", include_in_schema=False, status_code=204)
def admin_delete_user(username: str, user: str = Depends(current_user)):
    return None


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--write-spec":
        with open(sys.argv[2], "w") as f:
            json.dump(app.openapi(), f, indent=1)
        return
    if len(sys.argv) != 1:
        raise SystemExit(__doc__)

    import uvicorn
    from matrix_tracing import Terminated, exit_on_sigterm, port, setup_tracing
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    provider = setup_tracing()
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    exit_on_sigterm()
    try:
        # uvicorn handles SIGTERM itself (stops accepting, finishes requests), then restores
        # our handler and re-raises the signal: Terminated arrives here either way.
        uvicorn.run(app, host="127.0.0.1", port=port(), log_level="warning", access_log=False)
    except Terminated:
        pass
    finally:
        provider.shutdown()


if __name__ == "__main__":
    main()
